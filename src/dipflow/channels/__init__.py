"""Layer 4 (channels): one package per channel (sip, web, sim).

The channels are independent of each other; they share only `seam` (the protocols the
runtime and a channel meet at) and `errors` (`ChannelError`).
"""
