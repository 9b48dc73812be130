"""Phrase banks per subject for the distillation corpus (who, does what, to what).

Sentences are recombined across subjects too, so the teacher sees mixed and
ambiguous text and the student learns its soft labels there, not only clean
examples. None of these phrases is in the held-out labelled set.
"""

BANKS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "arts": (("The gallery", "A young painter", "The orchestra", "The film festival", "The novelist", "The theatre company"),
             ("unveiled", "premiered", "performed", "celebrated", "announced", "staged"),
             ("a new exhibition", "a sold-out show", "the opening night", "a documentary", "a poetry reading", "a jazz concert")),
    "conflict": (("Rebel forces", "The army", "Peace negotiators", "Militants", "Troops", "The defence ministry"),
                 ("shelled", "captured", "agreed", "attacked", "withdrew from", "reported clashes near"),
                 ("the border town", "a ceasefire deal", "the frontline village", "an army base", "the occupied city", "a prisoner swap")),
    "crime": (("Police", "The prosecutor", "Detectives", "The jury", "A judge", "The court"),
              ("arrested", "charged", "convicted", "jailed", "questioned", "acquitted"),
              ("a burglary suspect", "two men over the robbery", "the driver for fraud", "a gang of thieves", "the accused", "a witness")),
    "disaster": (("Firefighters", "Rescue teams", "Paramedics", "Emergency crews", "The coastguard", "Residents"),
                 ("fought", "evacuated", "rescued", "searched", "cleared", "fled"),
                 ("a blaze at the warehouse", "homes after the explosion", "survivors from the rubble", "the crash site", "the flooded street", "a collapsed building")),
    "economy": (("The central bank", "Shareholders", "The retailer", "Investors", "The finance minister", "The carmaker"),
                ("raised", "reported", "cut", "sold", "announced", "forecast"),
                ("interest rates", "quarterly profits", "jobs and prices", "its shares", "a takeover bid", "slower growth")),
    "education": (("The head teacher", "Pupils", "The university", "Students", "Parents", "The exam board"),
                  ("opened", "protested about", "published", "sat", "welcomed", "changed"),
                  ("a new classroom", "tuition fees", "exam results", "their final tests", "the school year", "the curriculum")),
    "environment": (("Campaigners", "Ecologists", "The water company", "Volunteers", "Conservationists", "The energy firm"),
                    ("planted", "cleaned", "polluted", "protected", "recycled", "warned about"),
                    ("thousands of trees", "the river estuary", "the nature reserve", "plastic waste", "carbon emissions", "endangered birds")),
    "health": (("Doctors", "Nurses", "The hospital", "Health officials", "Patients", "Researchers at the clinic"),
               ("treated", "vaccinated", "warned about", "admitted", "tested", "prescribed"),
               ("flu patients", "children against measles", "rising infections", "people to the ward", "a new drug", "cancer treatment")),
    "human": (("A pensioner", "A little girl", "The whole village", "A kind stranger", "A rescued dog", "Twin sisters"),
              ("celebrated", "returned", "knitted", "reunited with", "surprised", "raised money for"),
              ("her hundredth birthday", "a lost wallet", "hats for babies", "her long-lost brother", "the lollipop man", "a neighbour")),
    "labour": (("Workers", "The union", "Train drivers", "Employers", "Striking nurses", "The factory"),
               ("walked out over", "voted on", "demanded", "recruited", "negotiated", "rejected"),
               ("pay and pensions", "a strike ballot", "shorter hours", "hundreds of staff", "a wage deal", "the pay offer")),
    "lifestyle": (("Holidaymakers", "The new café", "Shoppers", "Walkers", "Foodies", "Gardeners"),
                  ("enjoyed", "served", "crowded", "explored", "tasted", "planted"),
                  ("the beach", "brunch and cakes", "the market stalls", "the coastal path", "street food", "summer flowers")),
    "politics": (("The prime minister", "Councillors", "The opposition", "Voters", "Parliament", "The mayor"),
                 ("approved", "debated", "criticised", "elected", "passed", "vetoed"),
                 ("the housing bill", "the budget", "the government's plan", "a new leader", "the law", "the council tax rise")),
    "religion": (("The bishop", "Worshippers", "The imam", "Pilgrims", "The rabbi", "The congregation"),
                 ("led", "gathered for", "blessed", "visited", "prayed at", "celebrated"),
                 ("a special mass", "Friday prayers", "the new church", "the holy shrine", "the synagogue", "the festival of lights")),
    "science": (("Scientists", "Astronomers", "Engineers", "The tech giant", "Researchers", "The space agency"),
                ("discovered", "launched", "built", "released", "tested", "observed"),
                ("a new species", "a satellite", "a faster chip", "a software update", "a robot", "a distant galaxy")),
    "society": (("Charities", "Residents", "Volunteers", "The food bank", "Campaign groups", "Social workers"),
                ("supported", "opened", "helped", "fed", "called for", "housed"),
                ("homeless families", "a night shelter", "lonely pensioners", "hundreds of families", "affordable housing", "refugees")),
    "sport": (("The striker", "United", "The champion", "The home side", "The coach", "The goalkeeper"),
              ("scored", "won", "defended", "beat", "praised", "saved"),
              ("a late winner", "the league title", "her marathon crown", "their rivals", "his players", "a penalty")),
    "weather": (("Forecasters", "The storm", "A heatwave", "Heavy snow", "Fog", "Gale-force winds"),
                ("warned of", "brought", "pushed", "closed", "covered", "battered"),
                ("thunderstorms tonight", "record temperatures", "temperatures above thirty degrees", "mountain roads", "the motorway", "the coast")),
}
PLACES = ("in the city centre", "on Tuesday", "this morning", "near the harbour", "after weeks of delay", "last night")


def sentences() -> list[str]:
    """Every (who, does, what, where) within a subject, and one cross-subject mix per subject pair."""
    out = []
    banks = list(BANKS.values())
    for who, does, what in banks:
        for i, w in enumerate(who):
            for j, d in enumerate(does):
                for k, o in enumerate(what):
                    out.append(f"{w} {d} {o} {PLACES[(i + j + k) % len(PLACES)]}.")
    for a in range(len(banks)):
        for b in range(len(banks)):
            if a != b:
                out.append(f"{banks[a][0][a % 6]} {banks[a][1][b % 6]} {banks[b][2][a % 6]} {PLACES[b % 6]}.")
    return out
