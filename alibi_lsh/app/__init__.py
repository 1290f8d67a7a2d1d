"""Everything the Streamlit app alone needs: controls and URL state, the numbers behind the
figures, the figure builders, caches and page timings. The library never imports this package."""
