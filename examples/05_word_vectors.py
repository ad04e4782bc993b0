# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Word vectors in 2-D
#
# t-SNE is often used to look at embeddings of words or sentences. Everything here
# works offline:
#
# * **with gensim installed** (`pip install gensim`): word2vec vectors are trained on
#   the small Wikipedia extract that ships with gensim's test data
#   (`head500.noblanks.cor`, about 335,000 words), and the words are labelled with the
#   categories of the word-analogy test set that ships with it too
#   (`questions-words.txt`: countries, capitals, family words, verb forms, ...) plus
#   lists of number words and months;
# * **without gensim**: a *synthetic stand-in* (clearly marked as such in the output
#   and the figure): clusters of 100-dimensional random vectors with a two-level group
#   structure, so that the example still runs.
#
# The vectors are compared by cosine similarity (`metric="cosine"`).
# (`NAPARI_TSNE_FAST=1`: a fraction of the corpus, a short run.)

# %%
import matplotlib.pyplot as plt
import numpy as np
from _common import FAST, savefig

from napari_tsne import TSNE
from napari_tsne.plotting import scatter

try:
    import gensim
except ImportError:
    gensim = None

NUMBERS = (
    "one two three four five six seven eight nine ten eleven twelve twenty thirty "
    "forty fifty hundred thousand million billion"
).split()
MONTHS = (
    "january february march april may june july august september october november december"
).split()
# column -> group of each category of questions-words.txt (pairs "a b c d" = a:b :: c:d)
ANALOGY_GROUPS = {
    "capital-common-countries": ("city", "country"),
    "capital-world": ("city", "country"),
    "city-in-state": ("city", "US state"),
    "currency": ("country", "currency"),
    "family": ("family", "family"),
    "gram1-adjective-to-adverb": ("adjective", "adverb"),
    "gram3-comparative": ("adjective", "comparative / superlative"),
    "gram4-superlative": ("adjective", "comparative / superlative"),
    "gram5-present-participle": ("verb", "verb -ing"),
    "gram6-nationality-adjective": ("country", "nationality"),
    "gram7-past-tense": ("verb -ing", "verb past tense"),
    "gram8-plural": ("noun", "plural noun"),
    "gram9-plural-verbs": ("verb", "verb"),
}


def word_categories(path) -> dict[str, str]:
    """word -> category from questions-words.txt, number words and months."""
    cats: dict[str, str] = {}
    groups = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith(":"):
                groups = ANALOGY_GROUPS.get(line[1:].strip())
                continue
            if groups is None:
                continue
            for i, word in enumerate(line.lower().split()):
                cats.setdefault(word, groups[i % 2])
    cats.update({w: "number" for w in NUMBERS})
    cats.update({w: "month" for w in MONTHS if w != "may"})  # 'may' is mostly a verb
    return cats


def gensim_vectors():
    """(vectors, words, categories) from word2vec on gensim's bundled corpus."""
    from gensim.models import Word2Vec
    from gensim.test.utils import datapath
    from gensim.utils import simple_preprocess

    with open(datapath("head500.noblanks.cor"), encoding="utf-8") as f:
        docs = [simple_preprocess(line) for line in f]
    if FAST:
        docs = docs[:40]
    sentences = [doc[i : i + 1000] for doc in docs for i in range(0, len(doc), 1000)]
    model = Word2Vec(
        sentences,
        vector_size=100,
        window=5,
        min_count=5,
        workers=2,
        epochs=2 if FAST else 15,
        seed=0,
    )
    cats = word_categories(datapath("questions-words.txt"))
    vocab = model.wv.index_to_key  # most frequent first
    labelled = [w for w in vocab if w in cats]
    n_other = 200 if FAST else 1500
    others = [w for w in vocab if w not in cats and len(w) > 2][:n_other]
    words = labelled + others
    labels = np.array([cats.get(w, "other") for w in words])
    return model.wv[words], np.array(words), labels, "word2vec on gensim's Wikipedia extract"


def synthetic_vectors():
    """A SYNTHETIC stand-in: 8 groups of vectors in 3 super-groups (not real words)."""
    rng = np.random.default_rng(0)
    n_per = 40 if FAST else 150
    supers = rng.normal(size=(3, 100)) * 3
    vectors, labels = [], []
    for g in range(8):
        centre = supers[g % 3] + rng.normal(size=100) * 1.5
        vectors.append(centre + rng.normal(size=(n_per, 100)))
        labels += [f"synthetic group {g + 1}"] * n_per
    words = np.array([f"w{i}" for i in range(len(labels))])
    return np.vstack(vectors), words, np.array(labels), "a SYNTHETIC stand-in (gensim missing)"


if gensim is not None:
    V, words, labels, source = gensim_vectors()
else:
    print("gensim is not installed: using a SYNTHETIC stand-in for word vectors.")
    V, words, labels, source = synthetic_vectors()
print(f"{len(words)} vectors of dimension {V.shape[1]} ({source})")
print({str(c): int((labels == c).sum()) for c in np.unique(labels)})

# %% [markdown]
# ## The map
#
# Words of the same kind end up near each other: number words, months, places,
# nationality adjectives, and the grammatical forms of verbs (a word2vec model trained
# on a few hundred thousand words is far from perfect, and so is its map). The other
# frequent words are drawn in grey.

# %%
tsne = TSNE(
    metric="cosine",
    perplexity=20,
    random_state=0,
    **(dict(early_exaggeration_iter=40, n_iter=60) if FAST else {}),
)
Y = tsne.fit_transform(V)

fig, ax = plt.subplots(figsize=(9, 7), layout="constrained")
other = labels == "other"
ax.scatter(Y[other, 0], Y[other, 1], s=4, c="0.85", linewidths=0)
scatter(Y[~other], labels[~other], ax=ax, s=12, title=f"t-SNE of word vectors: {source}")
rng = np.random.default_rng(1)
shown = rng.choice(np.flatnonzero(~other), size=min(60, int((~other).sum())), replace=False)
for i in shown:
    ax.annotate(words[i], Y[i], fontsize=6, alpha=0.8, xytext=(2, 2), textcoords="offset points")
savefig(fig, "word_vectors.png")
