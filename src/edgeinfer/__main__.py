"""`python -m edgeinfer`."""

from edgeinfer.cli import console_main

console_main()
