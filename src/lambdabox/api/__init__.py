"""The HTTP face of Lambdabox: the Lambda REST API and the IAM/STS calls AWS tooling makes."""
