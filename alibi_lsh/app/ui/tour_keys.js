// The tour's keys, installed once per browser tab. PageUp / PageDown (what a presenter's remote
// sends) always move the tour, whatever has the focus: the listener runs first (capture phase on
// the window) and keeps the key from the focused control. The arrow keys move the tour only when
// the focus is not in a control, so that a slider or a menu reached with Tab keeps its arrows.
(() => {
  if (window.alibiTourKeys) return;
  window.alibiTourKeys = true;
  const MOVES = { PageDown: "next", PageUp: "previous", ArrowRight: "next", ArrowLeft: "previous" };
  const ALWAYS = new Set(["PageDown", "PageUp"]);
  const CONTROL = "input, select, textarea, [contenteditable=''], [contenteditable='true'], "
    + "[role='slider'], [role='combobox'], [role='listbox'], [role='spinbutton'], [role='radiogroup'], "
    + "[role='radio'], [role='tab'], [role='menu'], [role='menuitem']";
  window.addEventListener("keydown", (event) => {
    const move = MOVES[event.key];
    if (!move || event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
    const button = document.querySelector(`.st-key-tour_${move} button`);
    if (!button) return; // not on the tour
    const target = event.composedPath()[0];
    if (!ALWAYS.has(event.key) && target instanceof Element && target.closest(CONTROL)) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    if (event.repeat || button.disabled) return;
    button.click();
  }, { capture: true });
})();
