// A canvas drawn at the screen's pixel ratio, shared by the live figures (appended before each
// figure's own script: one ES module per figure).

/**
 * Size `canvas` to its CSS box at the device's pixel ratio and clear it; returns the 2D context,
 * scaled so that drawing is in CSS pixels, with the box's width and height. Null while the canvas
 * has no size (hidden, or not laid out yet).
 */
export function fitCanvas(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  if (!width || !height) return null;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  const g = canvas.getContext("2d");
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, width, height);
  return { g, width, height };
}
