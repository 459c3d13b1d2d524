"""The Chalice app: create it, register middleware, blueprints and the event handlers; nothing else."""

from chalicelib import cold_start

cold_start.begin()  # no garbage collection until the first event has been handled (in Lambda)

from chalice import Chalice  # noqa: E402

from chalicelib.api.admin import admin  # noqa: E402
from chalicelib.api.console import console  # noqa: E402
from chalicelib.api.event_endpoints import event_endpoints  # noqa: E402
from chalicelib.api.groups import groups_blueprint  # noqa: E402
from chalicelib.api.imports import import_blueprint  # noqa: E402
from chalicelib.api.reports import report_blueprint  # noqa: E402
from chalicelib.api.webhooks import webhooks  # noqa: E402
from chalicelib.observability import observe  # noqa: E402
from chalicelib.workers import outbox, send, sms_topic  # noqa: E402

app = Chalice(app_name="sms-optout")
app.register_middleware(observe, "all")
app.register_blueprint(webhooks)
app.register_blueprint(admin)
app.register_blueprint(event_endpoints)
app.register_blueprint(import_blueprint)
app.register_blueprint(report_blueprint)
app.register_blueprint(groups_blueprint)
app.register_blueprint(console)


@app.on_sqs_message(queue="optout-send", batch_size=100, maximum_batching_window_in_seconds=1)
def handle_send_queue(event):
    """The send function: every record of the send queue goes through the send worker."""
    context = event.context
    return send.handle(event.to_dict(), lambda: context.get_remaining_time_in_millis() / 1000)


@app.on_sns_message(topic="optout-inbound")
def handle_sms_topic(event):
    """Two-way SMS from AWS End User Messaging: an account's topic invokes this directly (infra/ subscribes it)."""
    return sms_topic.handle(event.to_dict())


@app.schedule("rate(5 minutes)")
def flush_email_outbox(event):
    """Queue the email jobs whose queueing failed after their opt-out or opt-in was stored."""
    return {"queued": outbox.flush()}
