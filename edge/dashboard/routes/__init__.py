"""Dashboard routes, one module per area; app.py includes each module's `router`."""
