"""OData query options: `$filter` (tokenizer, parser, SQL), `$select`, `$orderby`, `$expand`.

Beside the layers (emulator): the product reaches it only over HTTP.
"""
