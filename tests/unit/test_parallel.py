"""Per-partition work on a few threads: results in input order, every item once, the first error raised."""

from __future__ import annotations

import threading

import pytest

from atlas_engine.parallel import in_groups, in_ranges, run_parallel


def test_groups_deal_items_round_robin_and_never_leave_a_group_empty() -> None:
    assert in_groups(["a", "b", "c", "d", "e"]) == [["a", "c", "e"], ["b", "d"]]
    assert in_groups(["a"]) == [["a"]]
    assert in_groups([]) == []
    assert in_groups(list(range(7)), workers=3) == [[0, 3, 6], [1, 4], [2, 5]]


def test_ranges_cut_items_into_consecutive_runs_in_order() -> None:
    assert in_ranges(["a", "b", "c", "d", "e"]) == [["a", "b", "c"], ["d", "e"]]
    assert in_ranges(["a"]) == [["a"]]
    assert in_ranges([]) == []
    assert in_ranges(list(range(7)), workers=3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert in_ranges(list(range(2)), workers=3) == [[0], [1]]


def test_results_keep_the_input_order_and_use_several_threads() -> None:
    threads: set[str] = set()
    barrier = threading.Barrier(2, timeout=10)  # both workers must be running at once to pass

    def work(n: int) -> int:
        threads.add(threading.current_thread().name)
        if n < 2:
            barrier.wait()
        return n * n

    assert run_parallel(work, list(range(10))) == [n * n for n in range(10)]
    assert len(threads) == 2


def test_one_item_runs_in_the_calling_thread_and_errors_propagate() -> None:
    assert run_parallel(lambda _: threading.current_thread().name, ["x"]) == [threading.current_thread().name]

    def fail_on_three(n: int) -> int:
        if n == 3:
            raise ValueError("partition 3")
        return n

    with pytest.raises(ValueError, match="partition 3"):
        run_parallel(fail_on_three, [1, 2, 3, 4])
