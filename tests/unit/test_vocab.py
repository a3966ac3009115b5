"""The run vocabulary is self-consistent and loads without the HTTP stack."""

from burststudio import vocab


def test_progress_fields_cover_the_repeated_sample_keys():
    assert set(vocab.PROGRESS_SAMPLE_KEYS) <= set(vocab.PROGRESS_FIELDS)
    assert set(vocab.PROGRESS_SAMPLE_KEYS) <= set(vocab.SAMPLE_KEYS)
    assert vocab.EVENT_TYPE in vocab.PROGRESS_FIELDS and vocab.EVENT_TIME in vocab.PROGRESS_FIELDS


def test_every_run_end_reason_has_an_exit_code():
    assert vocab.REASON_EXIT[vocab.REASON_DONE] == vocab.EXIT_OK
    assert len(set(vocab.REASON_EXIT.values())) == len(vocab.REASON_EXIT)


def test_outcome_of_status():
    assert [vocab.outcome_of_status(s) for s in (400, 404, 429, 500, 503)] == [
        vocab.HTTP_4XX, vocab.HTTP_4XX, vocab.HTTP_429, vocab.HTTP_5XX, vocab.HTTP_503]

