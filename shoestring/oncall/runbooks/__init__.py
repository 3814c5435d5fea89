"""One module per runbook, each with one `@runbook` function; `on-call` finds them here.
docs/on-call.md "Write a runbook" shows how to add one."""
