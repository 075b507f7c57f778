"""Simulated clouds and exercise scenarios, for exercise mode and the tests.

`aws.start_aws_sandbox(scenario)` starts moto and the fake CloudTrail on loopback;
`scenario.Scenario` is the YAML model; `trail` builds CloudTrail records.
"""
