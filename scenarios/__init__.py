"""linelab scenarios: the `linelab` command line, and (later) scenario files that script
the modem and the stack and assert that the resource hierarchy cleans up."""
