"""casework.analysis.text: segmentation with the legal user dictionary, distinctive terms,
example phrases."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from casework.analysis import text


class TestTokenize:
    def test_user_dictionary_keeps_legal_terms_whole(self):
        toks = text.tokenize("冒充公检法诱导被害人屏幕共享，另以套路贷虚增债务，并出售两卡")
        for word in ("冒充公检法", "屏幕共享", "套路贷", "两卡"):
            assert word in toks

    def test_stop_words_names_numbers_and_single_characters_are_dropped(self):
        toks = text.tokenize("经审查查明，2023年5月12日21时许，被告人李某某窃得价值人民币8000元的"
                             "手机。")
        assert "经审查" not in toks and "被告人" not in toks and "人民币" not in toks
        assert "李某某" not in toks and not any(t[0].isdigit() for t in toks)
        assert all(len(t) >= 2 for t in toks)
        assert "手机" in toks and "窃得" in toks

    def test_missing_text_gives_no_tokens(self):
        assert text.tokenize(None) == []
        assert text.tokenize(float("nan")) == []
        assert text.tokenize(pd.NA) == []

    def test_stopword_file_and_user_dictionary_are_read(self):
        assert "查明" in text.stopwords()
        assert "#" not in "".join(text.stopwords())
        assert "套路贷" in text.user_words()


def test_the_dictionary_holds_no_word_of_the_generators_phrases():
    """The keyword dictionary must not know what the demo generator plants: no entry occurs in
    any of its modus-operandi phrases (the planted RISING ones and the ordinary MO pools), and
    none contains or is contained in a planted keyword — else keyword detection on demo data
    would be circular."""
    from casework.synth import _tables as gen

    phrases = [p for v in gen.RISING.values() for p in v["phrases"]]
    phrases += [p for pool in gen.MO.values() for p in pool]
    keywords = [k for v in gen.RISING.values() for k in v["keywords"]]
    words = text.user_words()
    assert len(words) > 50
    copied = sorted({w for w in words if any(w in p for p in phrases)})
    assert copied == []
    near = sorted({w for w in words for k in keywords if k in w or w in k})
    assert near == []


class TestDistinctiveTerms:
    def test_scores_by_hand(self):
        # topic: 2 docs; other: 3 docs
        docs = pd.Series(["套路贷 诱骗 转账", "套路贷 转账", "转账 手机", "扒窃 手机",
                          "扒窃 手机"])
        topic = pd.Series([True, True, False, False, False])
        out = text.distinctive_terms(docs, topic, top=10, min_docs=1, min_share=0)
        row = out.set_index("term")
        # topic tokens: 套路贷 ×2, 诱骗 ×1, 转账 ×2 → 5 tokens
        assert row.loc["套路贷", "tf"] == pytest.approx(2 / 5)
        # 套路贷 never among the 3 other docs: idf = ln(4/1) + 1
        assert row.loc["套路贷", "idf"] == pytest.approx(math.log(4) + 1)
        # 转账 in 1 of 3 other docs: idf = ln(4/2) + 1
        assert row.loc["转账", "idf"] == pytest.approx(math.log(2) + 1)
        assert row.loc["转账", "other_doc_share"] == pytest.approx(1 / 3)
        assert row.loc["转账", "lift"] == pytest.approx(1.0 / (1 / 3))
        assert out["term"].tolist()[:2] == ["套路贷", "转账"]
        assert out["rank"].tolist() == list(range(1, len(out) + 1))
        # words only in the other documents never appear
        assert "扒窃" not in set(out["term"])

    def test_min_docs_filters_one_off_words(self):
        docs = pd.Series(["套路贷 诱骗", "套路贷", "手机"])
        out = text.distinctive_terms(docs, pd.Series([True, True, False]), min_docs=2)
        assert out["term"].tolist() == ["套路贷"]

    def test_empty_topic_gives_empty_frame_with_columns(self):
        out = text.distinctive_terms(pd.Series(["手机"]), pd.Series([False]))
        assert out.empty and "score" in out.columns


class TestExamplePhrases:
    def test_clause_bounded_and_trimmed(self):
        long = "经查，" + "甲" * 20 + "冒充公检法" + "乙" * 20 + "。"
        [snippet] = text.example_phrases([long], "冒充公检法", width=5)
        assert snippet == "…甲甲甲甲甲冒充公检法乙乙乙乙乙…"

    def test_distinct_and_limited(self):
        texts = ["以套路贷为名骗钱", "以套路贷为名骗钱", "通过套路贷诈骗", "套路贷三"]
        out = text.example_phrases(texts, "套路贷", n=2)
        assert out == ["以套路贷为名骗钱", "通过套路贷诈骗"]
