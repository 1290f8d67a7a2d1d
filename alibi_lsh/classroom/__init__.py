"""Serving a whole class: several app processes behind a reverse proxy, and a load test.

``proxy`` writes the HAProxy configuration, ``servers`` starts and stops the app processes and the
proxy, ``protocol`` speaks Streamlit's websocket protocol as a browser tab does, ``students``
simulates students on top of it, ``usage`` reads the servers' CPU time and memory from /proc and
``report`` turns the measurements into the load table. The commands are
``python -m alibi_lsh.classroom.serve`` and ``python -m alibi_lsh.classroom.loadtest``.
"""
