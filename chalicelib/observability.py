"""Logger and Metrics, created once. (No Tracer: it costs ~0.4 s of cold start.)"""

from aws_lambda_powertools import Logger

logger = Logger(service="sms-optout")
