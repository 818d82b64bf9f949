from socs_like.ops import OpCode, ResponseCode


def test_task_start_wait_over_wamp(run_agent, make_client):
    run_agent("FakeData", "fd-smoke")
    c = make_client("fd-smoke")
    reply = c.delay_task(delay=0.05)
    assert reply.status == ResponseCode.OK
    assert reply.session["success"] is True
    assert reply.session["op_code"] == OpCode.SUCCEEDED
    assert reply.session["messages"][-2][1] == "Exited after 0.05 seconds."
