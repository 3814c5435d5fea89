"""One module per runbook, each with one `@runbook` function; `on-call` finds them here.
README "Write a runbook" shows how to add one."""
