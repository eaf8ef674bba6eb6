

# ---- learn on a running board through faults -----------------------------------------------

def test_learning_resumes_through_faults_without_losing_or_repeating_a_step(world, tmp_path, monkeypatch):
    """The session of test_learning_session.py, on one board kept running and reached by
    --port through the fault proxy (resets included): the store ends with exactly the
    uninterrupted numpy session's steps, predictions, evaluations and final state."""
    from mcuforge.learning.session import EvalSet, LearnPlan, board_opener, feature_source, run_learning_session
    from mcuforge.results.store import ResultsStore
    from test_learning_session import check_store, expected

    for var in ("MCUFORGE_LINK_TIMEOUT", "MCUFORGE_INVOKE_TIMEOUT"):
        monkeypatch.setenv(var, "1.0")
    plan = LearnPlan("tinyol-batch", 0.05, batch=3, eval_every=16, checkpoint_every=8, max_recoveries=8)
    preds, evals, blob = expected(world, plan)
    faults = Faults(corrupt=0.01, burst=8, drop_byte=0.001, drop_frame=0.02, delay_frame=0.01, delay=1.2,
                    reset_every=90, seed=5)
    with start_board(world["elf"]) as board, FaultProxy(board.port, faults, reset=board.reset) as proxy, \
            ResultsStore(tmp_path / "r.db") as store:
        open_board = board_opener(world["elf"], BOARD, port=proxy.url)  # attaches: nothing is flashed
        result = run_learning_session(
            open_board, store, stream=world["stream"], train_source=feature_source(world["train_x"]),
            eval_set=EvalSet(range(len(world["eval_y"])), world["eval_y"]),
            eval_source=feature_source(world["eval_x"]), plan=plan)
        check_store(store, result.run_id, plan, preds, evals, blob, recoveries=result.recoveries)
    assert not proxy.errors
    assert proxy.injected["board reset"] >= 1 and result.recoveries >= 1, (proxy.injected, result.recoveries)
