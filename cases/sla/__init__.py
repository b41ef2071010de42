"""SLA clocks: the pure rules, the clocks that apply them, the sweep that finds breaches, policies and reports."""
