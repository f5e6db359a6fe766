"""The CDK app of the loyalty engine: one stack per stage, one construct per concern."""
