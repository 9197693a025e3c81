"""Reports: terminal tables (rich), JSON for machines, HTML with plots for people."""
