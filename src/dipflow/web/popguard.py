"""Which origins a screen pop may open: an allow-list per flow binding, by default the
web clients of the configured CRM connectors. Layer 6 (web).

A pop's URL is a template, often filled with caller or CRM data. Data inside the host
part changes where the agent's browser goes: `http://crm{{ Name }}/` with a name of
`@evil.example` is `http://crm@evil.example/`, a page on evil.example opened in the
agent's session. The desktop therefore opens (or frames) a pop only when its origin,
as the browser would read it (user info dropped, host lower-cased, default port
dropped), is one the flow's binding allows; any other pop is shown as text with the
reason. `dipflow flow lint` reports templated hosts before they run (`templated-pop-host`).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from dipflow.runtime.config import DipflowConfig, web_origin


def connector_origins(config: DipflowConfig) -> frozenset[str]:
    """The web client origin of each connector: `web_client_url`, else a Dataverse
    connector's organization URL (where `main.aspx` lives)."""
    origins: set[str] = set()
    for connector in config.connectors:
        url = connector.web_client_url
        if url is None and connector.kind == "dataverse":
            url = connector.org_url
        if url is not None:
            try:
                origins.add(web_origin(url))
            except ValueError:
                continue  # not a web address: it allows nothing
    return frozenset(origins)


class ScreenPopPolicy:
    def __init__(self, config: DipflowConfig) -> None:
        self._config = config
        self._default = connector_origins(config)

    def origins_for(self, dnis: str | None) -> frozenset[str]:
        """The origins pops of a call to `dnis` may open."""
        if dnis is not None:
            try:
                binding = self._config.binding_for(dnis)
            except LookupError:
                return self._default
            if binding.screen_pop_origins is not None:
                return frozenset(binding.screen_pop_origins)
        return self._default

    def refusal(self, dnis: str | None, url: str) -> str | None:
        """None when the pop may open; otherwise why not (shown to the agent)."""
        # Browsers and Python read odd URLs differently (`\\` is `/` to a browser, tabs
        # and newlines are dropped): refuse them rather than guess the browser's reading.
        if any(ch == "\\" or ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
            return "not a plain web address"
        try:
            origin = web_origin(url)
        except ValueError:
            return "not a web address"
        if origin not in self.origins_for(dnis):
            return f"{origin} is not an allowed screen-pop site"
        if "@" in urlsplit(url).netloc:  # an allowed host, but a URL no CRM link needs
            return "a web address with a user name in it"
        return None
