/**
 * The vocabulary: German terms with an English gloss, in a fixed order, as a language course would
 * list them (home, food, body, people, town, travel, nature, animals, time, clothes, ideas, then verbs,
 * adjectives and adverbs). Nouns carry their article.
 *
 * `lexicon` is what the simulated model "knows" about each term (its part of speech); the items the
 * pipeline reads carry only the term and its gloss.
 */

/** One vocabulary item, as the pipeline reads it. */
export interface Term {
  /** Stable id, the item's key: "de-0001", … */
  readonly id: string
  readonly term: string
  readonly gloss: string
}

export type PartOfSpeech = "noun" | "verb" | "adjective" | "adverb"

// One entry a line: part of speech (n, v, a, d), the term, its gloss.
const TABLE = `
n|das Haus|house
n|die Wohnung|apartment
n|das Zimmer|room
n|die Küche|kitchen
n|das Bad|bathroom
n|der Garten|garden
n|die Tür|door
n|das Fenster|window
n|der Tisch|table
n|der Stuhl|chair
n|das Bett|bed
n|der Schrank|wardrobe
n|die Lampe|lamp
n|der Teppich|carpet
n|die Treppe|stairs
n|der Keller|cellar
n|das Dach|roof
n|die Wand|wall
n|der Boden|floor
n|die Decke|ceiling
n|der Schlüssel|key
n|das Sofa|sofa
n|der Spiegel|mirror
n|die Dusche|shower
n|der Kühlschrank|refrigerator
n|der Herd|stove
n|der Ofen|oven
n|das Regal|shelf
n|die Uhr|clock
n|das Bild|picture
n|das Brot|bread
n|die Butter|butter
n|der Käse|cheese
n|die Milch|milk
n|das Ei|egg
n|der Apfel|apple
n|die Birne|pear
n|die Banane|banana
n|die Orange|orange
n|die Kartoffel|potato
n|die Tomate|tomato
n|die Zwiebel|onion
n|der Knoblauch|garlic
n|die Gurke|cucumber
n|die Karotte|carrot
n|der Reis|rice
n|die Nudel|noodle
n|das Fleisch|meat
n|der Fisch|fish
n|das Hähnchen|chicken
n|die Wurst|sausage
n|der Zucker|sugar
n|das Salz|salt
n|der Pfeffer|pepper
n|das Öl|oil
n|der Essig|vinegar
n|die Suppe|soup
n|der Salat|salad
n|der Kuchen|cake
n|die Schokolade|chocolate
n|das Wasser|water
n|der Saft|juice
n|der Kaffee|coffee
n|der Tee|tea
n|das Bier|beer
n|der Wein|wine
n|das Frühstück|breakfast
n|das Mittagessen|lunch
n|das Abendessen|dinner
n|die Mahlzeit|meal
n|der Löffel|spoon
n|die Gabel|fork
n|das Messer|knife
n|der Teller|plate
n|die Tasse|cup
n|das Glas|glass
n|die Flasche|bottle
n|die Schüssel|bowl
n|der Topf|pot
n|die Pfanne|pan
n|der Kopf|head
n|das Gesicht|face
n|das Auge|eye
n|das Ohr|ear
n|die Nase|nose
n|der Mund|mouth
n|der Zahn|tooth
n|die Zunge|tongue
n|der Hals|neck
n|die Schulter|shoulder
n|der Arm|arm
n|die Hand|hand
n|der Finger|finger
n|der Rücken|back
n|der Bauch|belly
n|das Bein|leg
n|das Knie|knee
n|der Fuß|foot
n|das Herz|heart
n|das Blut|blood
n|die Haut|skin
n|das Haar|hair
n|der Magen|stomach
n|die Lunge|lung
n|der Knochen|bone
n|die Familie|family
n|die Mutter|mother
n|der Vater|father
n|die Schwester|sister
n|der Bruder|brother
n|die Tochter|daughter
n|der Sohn|son
n|die Großmutter|grandmother
n|der Großvater|grandfather
n|die Tante|aunt
n|der Onkel|uncle
n|der Cousin|cousin (male)
n|die Cousine|cousin (female)
n|das Kind|child
n|das Baby|baby
n|der Freund|friend
n|die Freundin|girlfriend
n|der Nachbar|neighbour
n|die Frau|woman
n|der Mann|man
n|das Mädchen|girl
n|der Junge|boy
n|der Mensch|human being
n|der Gast|guest
n|der Lehrer|teacher
n|die Lehrerin|teacher (female)
n|der Schüler|pupil
n|der Student|student
n|der Arzt|doctor
n|die Ärztin|doctor (female)
n|der Koch|cook
n|der Kellner|waiter
n|der Polizist|police officer
n|der Bäcker|baker
n|der Fahrer|driver
n|der Chef|boss
n|der Kollege|colleague
n|der Kunde|customer
n|der Verkäufer|salesperson
n|die Stadt|city
n|das Dorf|village
n|die Straße|street
n|der Platz|square
n|die Brücke|bridge
n|der Bahnhof|train station
n|der Flughafen|airport
n|die Haltestelle|stop
n|der Markt|market
n|der Laden|shop
n|der Supermarkt|supermarket
n|die Bäckerei|bakery
n|die Apotheke|pharmacy
n|das Krankenhaus|hospital
n|die Bank|bank
n|die Post|post office
n|die Schule|school
n|die Universität|university
n|die Bibliothek|library
n|das Museum|museum
n|das Kino|cinema
n|das Theater|theatre
n|die Kirche|church
n|das Rathaus|town hall
n|das Hotel|hotel
n|das Restaurant|restaurant
n|das Café|café
n|der Park|park
n|der Spielplatz|playground
n|das Schwimmbad|swimming pool
n|das Büro|office
n|die Fabrik|factory
n|die Firma|company
n|der Parkplatz|car park
n|die Ampel|traffic light
n|die Kreuzung|crossroads
n|das Zentrum|centre
n|der Stadtteil|district
n|die Grenze|border
n|das Land|country
n|das Auto|car
n|der Bus|bus
n|der Zug|train
n|die Straßenbahn|tram
n|die U-Bahn|underground
n|das Fahrrad|bicycle
n|das Motorrad|motorcycle
n|das Flugzeug|aeroplane
n|das Schiff|ship
n|das Boot|boat
n|das Taxi|taxi
n|die Fahrkarte|ticket
n|der Fahrplan|timetable
n|die Reise|journey
n|der Koffer|suitcase
n|der Pass|passport
n|die Abfahrt|departure
n|die Ankunft|arrival
n|der Urlaub|holiday
n|die Karte|map
n|die Natur|nature
n|der Baum|tree
n|die Blume|flower
n|das Gras|grass
n|der Wald|forest
n|der Berg|mountain
n|der Hügel|hill
n|das Tal|valley
n|der Fluss|river
n|der See|lake
n|das Meer|sea
n|der Strand|beach
n|die Insel|island
n|der Himmel|sky
n|die Sonne|sun
n|der Mond|moon
n|der Stern|star
n|die Wolke|cloud
n|der Regen|rain
n|der Schnee|snow
n|der Wind|wind
n|das Wetter|weather
n|das Gewitter|thunderstorm
n|der Nebel|fog
n|das Eis|ice
n|der Stein|stone
n|die Erde|earth
n|das Feuer|fire
n|die Luft|air
n|das Blatt|leaf
n|der Hund|dog
n|die Katze|cat
n|das Pferd|horse
n|die Kuh|cow
n|das Schwein|pig
n|das Schaf|sheep
n|die Ziege|goat
n|das Huhn|hen
n|die Ente|duck
n|die Maus|mouse
n|der Vogel|bird
n|der Bär|bear
n|der Wolf|wolf
n|der Fuchs|fox
n|der Hase|hare
n|das Reh|deer
n|der Löwe|lion
n|der Elefant|elephant
n|der Affe|monkey
n|die Schlange|snake
n|der Frosch|frog
n|die Biene|bee
n|die Fliege|fly
n|die Spinne|spider
n|der Schmetterling|butterfly
n|die Zeit|time
n|der Tag|day
n|die Nacht|night
n|der Morgen|morning
n|der Mittag|noon
n|der Abend|evening
n|die Woche|week
n|der Monat|month
n|das Jahr|year
n|die Stunde|hour
n|die Minute|minute
n|die Sekunde|second
n|der Montag|Monday
n|der Dienstag|Tuesday
n|der Mittwoch|Wednesday
n|der Donnerstag|Thursday
n|der Freitag|Friday
n|der Samstag|Saturday
n|der Sonntag|Sunday
n|das Wochenende|weekend
n|der Frühling|spring
n|der Sommer|summer
n|der Herbst|autumn
n|der Winter|winter
n|der Geburtstag|birthday
n|das Fest|celebration
n|der Feiertag|public holiday
n|die Vergangenheit|past
n|die Zukunft|future
n|die Gegenwart|present
n|die Kleidung|clothing
n|das Hemd|shirt
n|die Hose|trousers
n|der Rock|skirt
n|das Kleid|dress
n|die Jacke|jacket
n|der Mantel|coat
n|der Pullover|jumper
n|der Schuh|shoe
n|der Stiefel|boot
n|die Socke|sock
n|der Hut|hat
n|die Mütze|cap
n|der Schal|scarf
n|der Handschuh|glove
n|der Gürtel|belt
n|die Tasche|bag
n|die Brille|glasses
n|der Ring|ring
n|die Kette|necklace
n|die Arbeit|work
n|der Beruf|profession
n|die Stelle|position
n|das Gehalt|salary
n|das Geld|money
n|die Rechnung|bill
n|der Preis|price
n|die Frage|question
n|die Antwort|answer
n|das Problem|problem
n|die Lösung|solution
n|die Idee|idea
n|der Plan|plan
n|das Ziel|goal
n|der Erfolg|success
n|der Fehler|mistake
n|die Aufgabe|task
n|die Prüfung|exam
n|die Note|grade
n|das Buch|book
n|das Heft|exercise book
n|der Stift|pen
n|das Papier|paper
n|der Brief|letter
n|die Zeitung|newspaper
n|die Zeitschrift|magazine
n|das Wort|word
n|der Satz|sentence
n|die Sprache|language
n|die Geschichte|story
n|das Lied|song
n|die Musik|music
n|das Spiel|game
n|der Sport|sport
n|der Film|film
n|das Foto|photo
n|der Computer|computer
n|das Handy|mobile phone
n|der Bildschirm|screen
n|die Nachricht|message
n|das Gespräch|conversation
n|die Meinung|opinion
n|der Grund|reason
n|die Wahrheit|truth
n|die Freiheit|freedom
n|die Liebe|love
n|die Angst|fear
n|die Freude|joy
n|das Glück|luck
n|die Hoffnung|hope
n|der Traum|dream
n|die Gesundheit|health
n|die Krankheit|illness
n|der Schmerz|pain
n|die Ruhe|calm
n|der Lärm|noise
n|die Farbe|colour
n|die Form|shape
n|die Größe|size
n|das Gewicht|weight
n|die Zahl|number
n|die Hälfte|half
n|der Anfang|beginning
n|das Ende|end
n|die Mitte|middle
n|die Seite|side
n|der Weg|way
n|die Richtung|direction
n|das Recht|right
n|das Gesetz|law
n|die Regierung|government
n|die Wirtschaft|economy
n|die Gesellschaft|society
n|die Umwelt|environment
n|die Energie|energy
n|die Technik|technology
n|die Wissenschaft|science
n|die Kunst|art
n|die Kultur|culture
n|die Religion|religion
n|der Krieg|war
n|der Frieden|peace
v|sein|to be
v|haben|to have
v|werden|to become
v|gehen|to go
v|kommen|to come
v|machen|to do
v|sagen|to say
v|sehen|to see
v|geben|to give
v|nehmen|to take
v|finden|to find
v|denken|to think
v|wissen|to know (a fact)
v|kennen|to know (be acquainted with)
v|glauben|to believe
v|stehen|to stand
v|liegen|to lie
v|sitzen|to sit
v|bleiben|to stay
v|heißen|to be called
v|spielen|to play
v|arbeiten|to work
v|wohnen|to live (reside)
v|leben|to live
v|lernen|to learn
v|lehren|to teach
v|studieren|to study
v|lesen|to read
v|schreiben|to write
v|sprechen|to speak
v|hören|to hear
v|zuhören|to listen
v|fragen|to ask
v|antworten|to answer
v|erklären|to explain
v|verstehen|to understand
v|vergessen|to forget
v|erinnern|to remind
v|essen|to eat
v|trinken|to drink
v|kochen|to cook
v|backen|to bake
v|schlafen|to sleep
v|aufstehen|to get up
v|laufen|to run
v|rennen|to race
v|springen|to jump
v|schwimmen|to swim
v|fliegen|to fly
v|fahren|to drive
v|reisen|to travel
v|fallen|to fall
v|tragen|to carry
v|bringen|to bring
v|holen|to fetch
v|suchen|to search
v|zeigen|to show
v|öffnen|to open
v|schließen|to close
v|beginnen|to begin
v|enden|to end
v|helfen|to help
v|brauchen|to need
v|kaufen|to buy
v|verkaufen|to sell
v|bezahlen|to pay
v|kosten|to cost
v|zählen|to count
v|rechnen|to calculate
v|warten|to wait
v|treffen|to meet
v|besuchen|to visit
v|einladen|to invite
v|feiern|to celebrate
v|tanzen|to dance
v|singen|to sing
v|lachen|to laugh
v|weinen|to cry
v|lieben|to love
v|hassen|to hate
v|mögen|to like
v|wünschen|to wish
v|hoffen|to hope
v|versuchen|to try
v|gewinnen|to win
v|verlieren|to lose
v|bauen|to build
v|reparieren|to repair
v|putzen|to clean
v|waschen|to wash
v|schneiden|to cut
v|malen|to paint
v|zeichnen|to draw
v|rufen|to call
v|telefonieren|to phone
v|schicken|to send
v|bekommen|to receive
v|benutzen|to use
v|wählen|to choose
v|entscheiden|to decide
v|planen|to plan
v|bestellen|to order
v|mieten|to rent
v|ziehen|to pull
v|drücken|to press
v|werfen|to throw
v|fangen|to catch
v|halten|to hold
v|legen|to lay
v|stellen|to put (upright)
v|setzen|to set
v|hängen|to hang
v|wachsen|to grow
v|sterben|to die
v|erzählen|to tell
v|berichten|to report
v|beschreiben|to describe
v|vergleichen|to compare
v|verbessern|to improve
v|ändern|to change
v|wiederholen|to repeat
v|üben|to practise
v|prüfen|to check
v|diskutieren|to discuss
v|erlauben|to allow
v|verbieten|to forbid
v|danken|to thank
v|grüßen|to greet
v|lächeln|to smile
v|atmen|to breathe
v|riechen|to smell
v|schmecken|to taste
v|fühlen|to feel
v|spüren|to sense
v|träumen|to dream
v|wandern|to hike
v|klettern|to climb
v|ankommen|to arrive
v|abfahren|to depart
v|einsteigen|to board
v|aussteigen|to get off
v|umsteigen|to change (trains)
v|anrufen|to ring up
v|aufräumen|to tidy up
v|ausgehen|to go out
v|mitbringen|to bring along
v|vorbereiten|to prepare
a|groß|big
a|klein|small
a|lang|long
a|kurz|short
a|hoch|high
a|tief|deep
a|breit|wide
a|schmal|narrow
a|dick|thick
a|dünn|thin
a|schwer|heavy
a|leicht|light
a|alt|old
a|jung|young
a|neu|new
a|gut|good
a|schlecht|bad
a|schön|beautiful
a|hässlich|ugly
a|warm|warm
a|kalt|cold
a|heiß|hot
a|kühl|cool
a|nass|wet
a|trocken|dry
a|hell|bright
a|dunkel|dark
a|laut|loud
a|leise|quiet
a|schnell|fast
a|langsam|slow
a|früh|early
a|spät|late
a|teuer|expensive
a|billig|cheap
a|reich|rich
a|arm|poor
a|voll|full
a|leer|empty
a|sauber|clean
a|schmutzig|dirty
a|einfach|simple
a|schwierig|difficult
a|richtig|correct
a|falsch|wrong
a|wichtig|important
a|interessant|interesting
a|langweilig|boring
a|lustig|funny
a|traurig|sad
a|glücklich|happy
a|müde|tired
a|wach|awake
a|krank|ill
a|gesund|healthy
a|stark|strong
a|schwach|weak
a|freundlich|friendly
a|nett|nice
a|böse|angry
a|ruhig|calm
a|nervös|nervous
a|höflich|polite
a|ehrlich|honest
a|klug|clever
a|dumm|stupid
a|fleißig|hard-working
a|faul|lazy
a|mutig|brave
a|ängstlich|fearful
a|neugierig|curious
a|geduldig|patient
a|frei|free
a|besetzt|occupied
a|offen|open
a|geschlossen|closed
a|fertig|ready
a|sicher|safe
a|gefährlich|dangerous
a|nah|near
a|weit|far
a|fremd|foreign
a|bekannt|well-known
a|berühmt|famous
a|möglich|possible
a|nötig|necessary
a|süß|sweet
a|sauer|sour
a|bitter|bitter
a|salzig|salty
a|scharf|spicy
a|frisch|fresh
a|rot|red
a|blau|blue
a|grün|green
a|gelb|yellow
a|schwarz|black
a|weiß|white
a|grau|grey
a|braun|brown
d|heute|today
d|morgen|tomorrow
d|gestern|yesterday
d|jetzt|now
d|bald|soon
d|später|later
d|immer|always
d|oft|often
d|manchmal|sometimes
d|selten|rarely
d|nie|never
d|schon|already
d|noch|still
d|wieder|again
d|hier|here
d|dort|there
d|oben|above
d|unten|below
d|draußen|outside
d|drinnen|inside
d|links|on the left
d|rechts|on the right
d|geradeaus|straight ahead
d|vielleicht|perhaps
d|leider|unfortunately
d|gern|gladly
d|sehr|very
d|fast|almost
d|genug|enough
d|zusammen|together
d|allein|alone
`

const POS: Record<string, PartOfSpeech> = { n: "noun", v: "verb", a: "adjective", d: "adverb" }

const entries = TABLE.trim()
  .split("\n")
  .map((line) => {
    const [pos, term, gloss] = line.split("|") as [string, string, string]
    return { pos: POS[pos]!, term, gloss }
  })

/** Every term, in course order, with ids "de-0001" … */
export const all: ReadonlyArray<Term> = entries.map((e, i) => ({
  id: `de-${String(i + 1).padStart(4, "0")}`,
  term: e.term,
  gloss: e.gloss
}))

/** The first `n` terms (all of them when `n` is larger). */
export const take = (n: number): ReadonlyArray<Term> => all.slice(0, Math.max(0, n))

/** What the simulated model knows: each term's part of speech. */
export const lexicon: ReadonlyMap<string, PartOfSpeech> = new Map(entries.map((e) => [e.term, e.pos]))
