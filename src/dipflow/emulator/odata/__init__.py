"""OData query options: `$filter` (tokenizer, parser, SQL), `$select`, `$orderby`, `$expand`."""
