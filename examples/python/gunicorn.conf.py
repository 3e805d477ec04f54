"""gunicorn's settings for the example (gunicorn -c gunicorn.conf.py app:application).

Every bound here is a bound on what one app server can be made to hold.
"""

import os

# hastack gives every app server its address and port in the environment contract.
bind = [f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"]
# 2 processes x 4 threads: the database calls block, threads overlap them; two processes keep one
# crash (restarted by gunicorn's master) from taking the node out. WEB_CONCURRENCY overrides.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = 4
# At most 200 client connections per process (keep-alive ones included): the load balancers
# keep a bounded pool each, so this is far above what they open.
worker_connections = 200
# Idle keep-alive connections are closed after 5 s (the load balancer reopens at once).
keepalive = 5
# A worker silent for 30 s is killed and replaced (the longest request is bounded at ~5 s).
timeout = 30
# SIGTERM: stop accepting, let requests in flight finish for up to 10 s, then exit.
graceful_timeout = 10
# Request line and headers: gunicorn's defaults made explicit (the body bound is in validate.py).
limit_request_line = 4094
limit_request_fields = 50
limit_request_field_size = 8190
# Errors to stderr (hastack keeps it in the service's log); no access log: the load balancers log requests.
errorlog = "-"
accesslog = None
loglevel = "info"
proc_name = "hastack-python-app"
