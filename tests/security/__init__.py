"""Security tests: each reproduces an attack of issue 11 on loopback against a real
`dipflow serve` and checks that it now fails while legitimate use still works.
`test_web_*` cover the web port, `test_sip_*` the SIP side."""
