"""Flows: model, loader, expressions, lint, graphs and the Webex importer. Layer 1 (flow).

The bottom layer: it imports nothing else of dipflow but `dipflow.errors`.

Errors: every error this layer raises on purpose is a `dipflow.flow.errors.FlowError`
(itself a `dipflow.errors.DipflowError`), and each carries `problems`, a list of
`Problem` with its file, line and column where known:

    FlowError                a flow file that cannot be used (loader)
    ├── YamlSyntaxError      text that is not YAML/JSON            (also a ValueError)
    ├── ExpressionError      a template that does not compile/run  (also a ValueError)
    ├── JsonPathError        a JSONPath that does not compile      (also a ValueError)
    └── WebexImportError     a Flow Designer export that cannot be imported

The three that are also `ValueError` stay so for callers that validate values.
"""
