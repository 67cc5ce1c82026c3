"""The browser caller channel: a caller on a web page, over a JSON WebSocket.

`protocol` parses and validates what the page sends (sans-IO); `call.BrowserCall`
is the `ChannelCall` the runtime drives. The web app (`dipflow.web.phone`) owns the
WebSocket route and hands each socket to a `BrowserCall`. See docs/desktop.md.
Layer 4 (channels).
"""
