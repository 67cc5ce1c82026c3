"""Real SIP software against a real dipflow: linphone, kamailio, sipsak, a NAT made with
network namespaces. Each peer has a small driver module here; the tests use them."""
