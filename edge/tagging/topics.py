"""IPTC Media Topics (top level), assigned zero-shot by embedding similarity.

Each subject is described by a few sentences of the news it covers (written
for this box, not taken from the IPTC definitions, which describe categories
rather than read like news). A text's score for a subject is its best cosine
with those descriptions; scores are turned into a distribution with a
softmax whose temperature was set on the tuning sentences in
bench/data/topics_tune.jsonl (never on the test set, bench/data/topics_test.jsonl).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# The 17 top-level subjects of https://cv.iptc.org/newscodes/mediatopic/ with their official codes.
SUBJECTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "medtop:01000000": ("arts, culture, entertainment and media", (
        "The festival opened with a concert and a new exhibition at the gallery.",
        "The film premiere drew actors, musicians and critics to the theatre.",
        "A museum unveiled a painting and the orchestra performed a symphony.",
        "The broadcaster launched a new television series and a newspaper closed.",
    )),
    "medtop:16000000": ("conflict, war and peace", (
        "Troops crossed the border and artillery shelled the town overnight.",
        "The two sides signed a ceasefire agreement after peace talks.",
        "Soldiers were killed in an attack by armed militants.",
        "Protesters clashed with riot police and the army declared a curfew.",
    )),
    "medtop:02000000": ("crime, law and justice", (
        "Police arrested a man on suspicion of robbery and he was charged with theft.",
        "The court sentenced the defendant to five years in prison.",
        "Detectives are investigating a stabbing and appealed for witnesses.",
        "The judge ruled the trial will resume after the jury returns a verdict.",
    )),
    "medtop:03000000": ("disaster, accident and emergency incident", (
        "Firefighters battled a blaze that destroyed several homes.",
        "A car crash on the motorway left three people injured.",
        "Floodwater forced residents to evacuate and emergency shelters opened.",
        "Rescue teams searched the rubble after the earthquake and the explosion.",
    )),
    "medtop:04000000": ("economy, business and finance", (
        "The company reported higher profits and its shares rose on the stock market.",
        "Inflation and interest rates weigh on the economy, the central bank said.",
        "The factory will cut jobs after sales fell and the firm was sold.",
        "The budget sets out taxes, spending and investment for businesses.",
    )),
    "medtop:05000000": ("education", (
        "The school reopened and pupils returned to their classes.",
        "The university announced new courses and tuition fees for students.",
        "Teachers and parents met to discuss exam results and the curriculum.",
    )),
    "medtop:06000000": ("environment", (
        "Pollution in the river killed fish and campaigners demand a clean-up.",
        "The plan cuts carbon emissions to fight climate change.",
        "Conservation of wildlife and forests, recycling and renewable energy.",
    )),
    "medtop:07000000": ("health", (
        "The hospital treated patients and doctors warned about the virus.",
        "A vaccine campaign and new medicine for the disease were announced.",
        "Nurses said the health service is under pressure with long waiting lists.",
    )),
    "medtop:08000000": ("human interest", (
        "A family was reunited with their lost dog after ten years.",
        "The oldest resident of the village celebrated her hundredth birthday.",
        "A heartwarming story of a stranger who returned a wallet full of cash.",
    )),
    "medtop:09000000": ("labour", (
        "Workers went on strike over pay and the union called for a walkout.",
        "Unemployment fell and employers are hiring more staff.",
        "The union and management negotiated wages, pensions and working hours.",
    )),
    "medtop:10000000": ("lifestyle and leisure", (
        "Holidaymakers flocked to the beach and the new restaurant opened.",
        "Tips on cooking, fashion, gardening and travel for the weekend.",
        "Visitors enjoyed the fair, shopping and hobbies in their free time.",
    )),
    "medtop:11000000": ("politics", (
        "The minister announced a new policy and parliament voted on the bill.",
        "Voters went to the polls in the election and the party won a majority.",
        "The mayor and the council approved the plan after a government debate.",
        "The president met the prime minister to discuss diplomacy and the treaty.",
    )),
    "medtop:12000000": ("religion", (
        "Worshippers gathered at the church for a service led by the bishop.",
        "The mosque and the temple celebrated a religious festival with prayers.",
        "The pope addressed believers about faith.",
    )),
    "medtop:13000000": ("science and technology", (
        "Scientists published research on a new discovery in the laboratory.",
        "The tech company released software, artificial intelligence and a smartphone.",
        "The space agency launched a rocket and a satellite into orbit.",
    )),
    "medtop:14000000": ("society", (
        "Charities say homelessness and poverty are rising in the community.",
        "The debate on immigration, housing and equality divides the neighbourhood.",
        "Volunteers support elderly people, families and young people in the town.",
    )),
    "medtop:15000000": ("sport", (
        "The team won the match with a late goal and the fans celebrated.",
        "The runner broke the record and took the gold medal at the championship.",
        "The coach praised his players after the final score in the league game.",
        "The tennis player reached the final of the tournament.",
    )),
    "medtop:17000000": ("weather", (
        "Forecasters warned of heavy rain, strong winds and storms tomorrow.",
        "Temperatures will drop below freezing with snow and ice overnight.",
        "A heatwave brought sunshine and record high temperatures.",
    )),
}

# Chosen on the tuning set: lower sharpens the distribution; 0.05 put the right
# subject first without making every text look certain.
TEMPERATURE = 0.05
MIN_SCORE = 0.15
MAX_TOPICS = 3


@dataclass(frozen=True)
class Topic:
    code: str
    label: str
    score: float

    def to_json(self) -> dict:
        return {"code": self.code, "label": self.label, "score": round(self.score, 3)}


class TopicTagger:
    def __init__(self, embedder) -> None:
        self.embedder = embedder
        self._codes: list[str] = []
        texts: list[str] = []
        for code, (_, descriptions) in SUBJECTS.items():
            for d in descriptions:
                self._codes.append(code)
                texts.append(d)
        self._vectors = embedder.embed(texts)
        self._order = list(SUBJECTS)

    def scores(self, vectors: np.ndarray) -> np.ndarray:
        """Per text, a distribution over the 17 subjects (rows sum to 1)."""
        sims = vectors @ self._vectors.T
        best = np.full((len(vectors), len(self._order)), -1.0, dtype=np.float32)
        for j, code in enumerate(self._codes):
            col = self._order.index(code)
            best[:, col] = np.maximum(best[:, col], sims[:, j])
        z = (best - best.max(axis=1, keepdims=True)) / TEMPERATURE
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)

    def topics(self, text: str, vector: np.ndarray | None = None) -> list[Topic]:
        if not text.strip():
            return []
        v = self.embedder.embed([text]) if vector is None else vector[None, :]
        p = self.scores(v)[0]
        ranked = np.argsort(-p)[:MAX_TOPICS]
        return [Topic(self._order[i], SUBJECTS[self._order[i]][0], float(p[i])) for i in ranked if p[i] >= MIN_SCORE]

    def best(self, vectors: np.ndarray) -> list[str]:
        """The top subject code per text (for accuracy measurement)."""
        return [self._order[i] for i in np.argmax(self.scores(vectors), axis=1)]
