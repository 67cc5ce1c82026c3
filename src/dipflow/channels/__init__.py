"""Layer 4 (channels): one package per channel (sip, web, sim), independent of each other; they share only `seam` (the runtime-facing protocols) and `errors` (ChannelError)."""
