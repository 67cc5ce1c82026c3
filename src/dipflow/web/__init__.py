"""The web app: agent desktop, supervisor view, browser caller, metrics.

`dipflow.web.app.create_app(runtime)` builds it; `dipflow serve` runs it on uvicorn.
See docs/desktop.md.
Layer 6 (web): imports the runtime and everything below it, never the command line.
"""
