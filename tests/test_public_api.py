import harness


def test_all_lists_exactly_the_public_names_sorted():
    public = sorted(n for n in vars(harness) if not n.startswith("_")
                    and not isinstance(getattr(harness, n), type(harness)))
    assert harness.__all__ == sorted(harness.__all__)
    assert set(harness.__all__) == set(public)
