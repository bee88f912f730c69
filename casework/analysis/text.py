"""Chinese text of case summaries (案情摘要): segmentation, distinctive terms, example phrases.

Segmentation uses jieba with a legal-domain user dictionary
(``casework/resources/text/legal_userdict.txt``: charge words, modus-operandi words such as
冒充公检法, 套路贷, 入户盗窃, 两卡, injury grades, drugs, places) and a stop-word list
(``casework/resources/text/stopwords.txt``: function words and the boilerplate of case cards
and judgments — 经审查, 查明, 被告人, 人民币 …). Person names already anonymised as 张某 / 李某某,
numbers, dates, single characters and punctuation are dropped.

The dictionary holds general legal vocabulary only: no word of it occurs in the phrases the
demo-data generator (:mod:`casework.synth`) writes into case summaries, so the words a test
expects to emerge are found by segmentation and scoring, not because the dictionary was told
about them (``tests/test_text.py`` checks this).

Distinctive terms are scored by a class-based TF–IDF: the term's frequency in the topic's
summaries times its inverse document frequency among the *other* cases' summaries, so words
common everywhere (盗窃 in a theft topic is kept; 驾驶 in every traffic case is not distinctive
against other traffic cases) rank below the words that set the topic apart.

Examples
--------
>>> from casework.analysis import text
>>> text.tokenize("经审查查明，被告人张某冒充公检法诱骗被害人通过屏幕共享转账人民币8000元。")
['冒充公检法', '诱骗', '屏幕共享', '转账']
>>> import pandas as pd
>>> docs = pd.Series(["以套路贷为名诱骗转账", "套路贷诱骗被害人", "入户盗窃手机",
...                  "撬锁盗窃手机"])
>>> terms = text.distinctive_terms(docs, pd.Series([True, True, False, False]), top=2)
>>> terms["term"].tolist()
['套路贷', '诱骗']
>>> int(terms["topic_docs"].iloc[0]), float(terms["other_doc_share"].iloc[0])
(2, 0.0)
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from casework.base.config import RESOURCES_DIR

TEXT_DIR: Path = RESOURCES_DIR / "text"
USER_DICT: Path = TEXT_DIR / "legal_userdict.txt"
STOPWORDS: Path = TEXT_DIR / "stopwords.txt"

#: Anonymised person names (张某, 李某某) and tokens with no letters (numbers, dates, units).
_NAME = re.compile(r"^[\u4e00-\u9fff]某{1,2}[\u4e00-\u9fff]?$")
_HAS_WORD = re.compile(r"[\u4e00-\u9fffA-Za-z]")
_NUMERIC = re.compile(r"^[\d.%％,，:：/\-年月日时分秒号元万千百十余多数几]+$|^\d")
_CLAUSE = re.compile(r"[，。；;！!？?\n,]")


@lru_cache(maxsize=1)
def _tokenizer():
    import jieba  # heavy: loads its dictionary; only case-summary analysis needs it

    logging.getLogger("jieba").setLevel(logging.WARNING)
    tk = jieba.Tokenizer()
    tk.load_userdict(str(USER_DICT))
    return tk


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    """The stop words (one per line in ``resources/text/stopwords.txt``; ``#`` starts a comment).

    Examples
    --------
    >>> "经审查" in stopwords()
    True
    """
    words = set()
    for line in STOPWORDS.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            words.add(line)
    return frozenset(words)


def user_words() -> list[str]:
    """The words of the legal-domain user dictionary.

    Examples
    --------
    >>> "套路贷" in user_words()
    True
    """
    out = []
    for line in USER_DICT.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            out.append(line.split()[0])
    return out


def _keep(tok: str, stop: frozenset[str]) -> bool:
    tok = tok.strip()
    if len(tok) < 2 or tok in stop:
        return False
    if not _HAS_WORD.search(tok) or _NUMERIC.match(tok):
        return False
    return not _NAME.match(tok)


@lru_cache(maxsize=1)
def _han_block():
    import jieba  # its block pattern, so the split below is exactly the one jieba makes

    return jieba.re_han_default


@lru_cache(maxsize=200_000)
def _block_tokens(block: str) -> tuple[str, ...]:
    stop = stopwords()
    return tuple(t for t in _tokenizer().lcut(block, HMM=True) if _keep(t, stop))


@lru_cache(maxsize=50_000)
def _tokens_cached(text: str) -> tuple[str, ...]:
    # jieba cuts each run of 汉字/letters/digits on its own (the rest become 1-character or
    # blank tokens, which _keep drops), so a text's tokens are its runs' tokens in order.
    # Runs repeat across summaries (boilerplate clauses) and are segmented once each: about
    # half the time of segmenting whole texts, with the same tokens.
    han = _han_block()
    return tuple(t for run in han.split(text) if run and han.match(run)
                 for t in _block_tokens(run))


def tokenize(text) -> list[str]:
    """Segment one text into content words (stop words, names, numbers, 1-character tokens out).

    Parameters
    ----------
    text : str or None
        Missing values give an empty list.

    Returns
    -------
    list of str

    Examples
    --------
    >>> tokenize("犯罪嫌疑人王某无证驾驶机动车，血液酒精含量为180mg/100ml")
    ['无证驾驶', '机动车', '血液酒精含量']
    >>> tokenize(None)
    []
    """
    if text is None or (isinstance(text, float) and math.isnan(text)) or text is pd.NA:
        return []
    return list(_tokens_cached(str(text)))


def distinctive_terms(
    texts: pd.Series,
    in_topic: pd.Series,
    *,
    top: int = 20,
    min_docs: int = 2,
    min_share: float = 0.01,
    max_other: int | None = 5000,
    seed: int = 0,
) -> pd.DataFrame:
    """Terms that set the topic's texts apart from the other texts (class-based TF–IDF).

    Parameters
    ----------
    texts : Series of str
        One text per document (case summary); missing texts count as empty documents.
    in_topic : Series of bool
        Aligned with ``texts``: True for the topic's documents.
    top : int
        Number of terms returned.
    min_docs, min_share : int, float
        A term must occur in at least ``min_docs`` topic documents and in at least
        ``min_share`` of them (rare words and one-off spellings are not characteristics).
    max_other : int or None
        Document frequencies among the other texts are estimated from a random sample of at
        most this many of them (seeded by ``seed``, so results repeat); ``None`` uses all.
        Segmentation is the slow step; 5,000 documents estimate shares to about ±1.4
        percentage points.

    Returns
    -------
    DataFrame
        ``rank, term, topic_docs, topic_doc_share, other_docs, other_doc_share, lift, tf, idf,
        score`` sorted by ``score`` (descending). ``tf`` is the term's share of all topic
        tokens; ``idf = ln((1 + N_other) / (1 + df_other)) + 1``; ``score = tf × idf``;
        ``lift = topic_doc_share / other_doc_share`` (inf when the term never occurs outside).
        ``other_docs`` counts documents of the sample. ``attrs``: ``topic_docs``,
        ``other_docs`` (all other documents) and ``other_sample`` (those examined).

    Notes
    -----
    A word that is frequent in the topic and rare among the other cases scores highest; a word
    frequent everywhere is discounted by its IDF among the other cases.

    Examples
    --------
    >>> docs = pd.Series(["冒充公检法诱导转账", "冒充公检法索要验证码", "撬锁盗窃手机"])
    >>> distinctive_terms(docs, pd.Series([True, True, False]))[["term", "topic_docs",
    ...                                                          "other_docs"]].values.tolist()
    [['冒充公检法', 2, 0]]
    """
    texts = pd.Series(texts).reset_index(drop=True)
    mask = pd.Series(in_topic).reset_index(drop=True).fillna(False).astype(bool)
    topic_idx = np.flatnonzero(mask.to_numpy())
    other_idx = np.flatnonzero(~mask.to_numpy())
    if max_other is not None and len(other_idx) > max_other:
        rng = np.random.default_rng(seed)
        other_idx = np.sort(rng.choice(other_idx, size=max_other, replace=False))
    values = texts.tolist()
    docs = {i: tokenize(values[i]) for i in np.concatenate([topic_idx, other_idx])}
    tf_counter: Counter = Counter()
    df_topic: Counter = Counter()
    df_other: Counter = Counter()
    for i in topic_idx:
        tf_counter.update(docs[i])
        df_topic.update(set(docs[i]))
    for i in other_idx:
        df_other.update(set(docs[i]))
    cols = ["rank", "term", "topic_docs", "topic_doc_share", "other_docs", "other_doc_share",
            "lift", "tf", "idf", "score"]
    n_topic, n_other = len(topic_idx), len(other_idx)
    total = sum(tf_counter.values())
    info = {"topic_docs": n_topic, "other_docs": int((~mask).sum()), "other_sample": n_other}
    if n_topic == 0 or total == 0:
        out = pd.DataFrame(columns=cols)
        out.attrs.update(info)
        return out
    threshold = max(min_docs, math.ceil(min_share * n_topic))
    rows = []
    for term, count in tf_counter.items():
        if df_topic[term] < threshold:
            continue
        tf = count / total
        idf = math.log((1 + n_other) / (1 + df_other[term])) + 1
        t_share = df_topic[term] / n_topic
        o_share = df_other[term] / n_other if n_other else float("nan")
        lift = t_share / o_share if o_share else float("inf")
        rows.append((term, df_topic[term], t_share, df_other[term], o_share, lift, tf, idf,
                     tf * idf))
    out = pd.DataFrame(rows, columns=cols[1:])
    if out.empty:
        out = pd.DataFrame(columns=cols)
        out.attrs.update(info)
        return out
    out = out.sort_values(["score", "term"], ascending=[False,
                                                        True]).head(top).reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    out.attrs.update(info)
    return out


def example_phrases(texts: pd.Series, term: str, *, n: int = 2, width: int = 14) -> list[str]:
    """Up to ``n`` short snippets around ``term`` from distinct texts (clause-bounded).

    Each snippet is the clause (between commas/full stops) holding the term, cut to ``width``
    characters on each side of it and marked with … where cut. Identical snippets are given once.

    Examples
    --------
    >>> example_phrases(["经查，张某以套路贷为名诱骗被害人转账。", "李某通过套路贷骗得钱款"],
    ...                 "套路贷")
    ['张某以套路贷为名诱骗被害人转账', '李某通过套路贷骗得钱款']
    >>> example_phrases(["无关文字"], "刷单")
    []
    """
    out: list[str] = []
    for text in texts:
        if not isinstance(text, str) or term not in text:
            continue
        for clause in _CLAUSE.split(text):
            pos = clause.find(term)
            if pos < 0:
                continue
            start, end = max(0, pos - width), min(len(clause), pos + len(term) + width)
            snippet = (("…" if start > 0 else "") + clause[start:end]
                       + ("…" if end < len(clause) else ""))
            snippet = snippet.strip()
            if snippet not in out:
                out.append(snippet)
            break
        if len(out) >= n:
            break
    return out
