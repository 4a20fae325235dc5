"""FSDP (FullyShardedDataParallel and fully_shard / FSDP2): a toggle cannot be applied safely to a
sharded model, so it is refused with a message saying why and nothing changes; stop still works
(issue 14). Real FSDP on a one-process gloo group on CPU. Skipped, saying so, where torch (with
torch.distributed) is not installed."""
import pytest

from conftest import of_type, read_events, write_control

torch = pytest.importorskip("torch", reason="PyTorch is not installed in this Python "
                            "(pip install torch, CPU wheel, to run the PyTorch helper tests)")

from finetop.torch import Tracker  # noqa: E402


@pytest.fixture
def one_process_group(tmp_path):
    import torch.distributed as dist
    if not dist.is_available():
        pytest.skip("this torch has no torch.distributed")
    dist.init_process_group("gloo", init_method="file://" + str(tmp_path / "rendezvous"),
                            rank=0, world_size=1)
    try:
        yield
    finally:
        dist.destroy_process_group()


def fsdp1(model):
    from torch.distributed.fsdp import FullyShardedDataParallel
    return FullyShardedDataParallel(model, device_id=torch.device("cpu"))


def fsdp2(model):
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard
    fully_shard(model, mesh=init_device_mesh("cpu", (1,)))
    return model


@pytest.mark.parametrize("wrap", [fsdp1, fsdp2], ids=["FullyShardedDataParallel", "fully_shard"])
def test_toggle_refused_on_sharded_model_stop_still_works(wrap, run_dir, one_process_group):
    torch.manual_seed(0)
    model = wrap(torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 2)))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    tracker = Tracker(model, opt, run_dir=run_dir, control_interval=0)
    flags = [p.requires_grad for p in model.parameters()]
    x = torch.randn(8, 4)
    writes = {1: {"version": 1, "revision": 1, "trainable": {"0": False}},
              3: {"version": 1, "revision": 2, "trainable": {}, "stop": True}}
    steps = 0
    for step in range(10):
        if step in writes:
            write_control(run_dir, writes[step])
        opt.zero_grad()
        model(x).square().mean().backward()
        opt.step()
        steps += 1
        if tracker.batch(loss=0.0):
            break
    tracker.end()
    assert [p.requires_grad for p in model.parameters()] == flags
    acks = of_type(read_events(run_dir), "control")
    assert [(a["revision"], a["status"]) for a in acks] == [(1, "rejected"), (2, "applied")]
    assert "refused" in acks[0]["message"] and "shard" in acks[0]["message"]
    assert steps == 4 and read_events(run_dir)[-1]["reason"] == "stopped"
