"""English words for RULER's common-words extraction (RULER draws them from the `wonderwords`
package's noun, adjective and verb lists, which this project does not depend on).

8,192 base forms (3 to 9 lowercase letters; plurals and -ed/-ing/-ly forms of a listed word left
out), drawn with a fixed seed from Debian's `wamerican-small` 2020.12.07 (SCOWL size 35), whose
notice follows: "Copyright 2000-2011 by Kevin Atkinson. Permission to use, copy, modify,
distribute and sell these word lists, the associated scripts, the output created from the scripts,
and its documentation for any purpose is hereby granted without fee, provided that the above
copyright notice appears in all copies and that both that copyright notice and this permission
notice appear in supporting documentation. Kevin Atkinson makes no representations about the
suitability of this array for any purpose. It is provided "as is" without express or implied
warranty."

No task is registered here: this module only holds data for `ruler_cwe`.
"""

from __future__ import annotations

WORDS: tuple[str, ...] = tuple(
    """
abaci aback abacus abandon abating abbey abbot abdomen abdominal abet abhor abhorred abhorrent
abhorring abide abiding ability ablaze able abler ablest abnormal aboard abode abolition abortion
abound above abridge abroad abscess abscond absence absent absolute absorb abstract absurd absurdity
abundant abusing abusive abyss academy acceding accessory acclimate accompany accordion accost
accruing accurate accuse ache achieve acid acorn acoustic acquire acquit acquittal acquitted acre
acreage acrid acrimony acrobatic acronym across acrylic act activate activist activity actress
actuality acumen acutest adage adaptable adaptive addendum addict addiction addictive additive
address addressee adequate adherence adherent adhering adhesion adjective adjoin adjunct admirably
admiral admirer admiring admitted admitting ado adobe adopt adoption adoration adorn adrift ads
advance adventure adverb adverse adverser advert adviser advisory advocate aeon aerospace aesthetic
afar affable affably affection affidavit affinity affirm affix afflict affluence affront aflame
afoot aforesaid afraid afresh afternoon again agency agenda aggregate aggressor agile agility
agitation aglow agonize agonizing agree agreeable agreeably agreement aground ahead aide ail ailment
aimless airborne aircraft airiest airline airliner airport airstrip airtight airy alarmist albeit
albino alcoholic alcove alert alga algebraic alias alibi alienate align alike alimony alining alit
alkali all allay alleging allegory alley alliance allocate allotment allotted allow allowance alloy
allude alluding allure allusion ally almond along alpha alphabet also altar alterable alternate
altho although aluminum amaze amazement amazing ambiance ambient ambiguity ambiguous ambition amble
ambulance ambush amebae ameer amendment amethyst amiable amicable amicably amid amidst amir amnesty
among amongst amorous amorphous amount ampere ample ampler amplifier amplify amputate amuck
amusement amusing anaemia analgesic analog analogous analogue analogy analyses analytic analyze
analyzing anarchist anarchy anathema ancestry anchor anchovy and anecdote anemia anger angler
angriest angrily angry angular animation animosity ankle annals annex announcer annoy annoyance
annual annuity annul annulment anoint anon another ant antelope antenna anthem antibody antic
antiquate antique antiquing antiquity anus anybody anyone anyplace anyway anywhere aortae apartment
apathy ape aphorism apiece aplomb apologize apostle appal appall appeal appear append appetizer
applause applicant appoint appointee apposite approach approval apricot aquaria aquarium arable
arbitrary arc arcade arcane archaic archive archiving archway arcked arcking ardent arduous are
arguably argue argument arisen arising armadillo armament armistice army aroma around arouse
arousing arraign arrange arranging array arrears arrival arrive arriving arrogant arrow arsenal
arsenic art artefact arterial artery artful artifice artillery artisan artist artistic artwork
ascertain ascetic ascribe ascribing asexual ashamed ashen aside askew asleep asparagus aspect aspen
aspersion aspirin aspiring ass assailant assassin assemble assembler assent assert assessor asset
assort assume assure asterisk asteroid astride astute astutest asylum atheism atheist atheistic
athlete atomic atone atonement atoning atrocious atrocity attack attain attempt attend attendant
attic attract auburn auction audacity audible audibly audience audio auditor auditoria august aunt
austerest authentic author authority authorize automate autumnal available avarice avenging avenue
average averaging averse aversion avid avocado avoidable await awaken awaking award away awful
awfuller axiomatic azure babier babiest babyish back backfire backhand backlash backpack backslash
backspace backtrack bacon bacterial baddest badminton baffling bag bagel bagged baggier bait baker
bakery baking balcony bald bale balk ballet balloon ballot balm balmiest balmy baloney bamboo
bamboozle ban banana bandaging bandanna bandiest bandstand bandwagon bandwidth bandy bang banish
banister bankrupt banned bannister banquet banter baptizing bar barbarous barge barging bark barley
barnacle baron barraging barred barricade barring bartender barter base baseball basement baser
basest bashful basic basically basil basing bask basket bass baste basting bat batch bathe batsman
battalion battery batting bawdiest bawdy bay bayonet beach beacon beadier beady beagle beak beam
bearable beat beautiful beauty beaver became because beckon becoming bedbug bedded bedder bedridden
bedrock bedtime bee beech beefier beefiest beefy beeper beer beet beetle beetling beeves befall
befell befit befitted beg began begging begin beginner beguile beguiling behaving behind behold
belabor belated belfry belie belief believe bellhop belt bend beneath benign bequeath bereft berry
berserk besiege best bestial bet beta betcha betted betting between bewaring bewilder bewitch
biblical bicycle bicycling bid bidden big bigamist bigamy bigger bike bikini bile billboard billfold
billiards billion billow binary bingo binning binomial biography biologist biology biped biplane
birdcage bisect bisexual bit bitmap bitten bitter blabbing black blackbird blacken blackhead
blackjack blackout blacktop blamer bland blanket blaspheme blasphemy bleach bleak blearier bleariest
bleary bleat bled blemish blest blew blight blimp blind blindness bliss blissful blister blithe
blither blithest blitz blizzard blob blobbed blockage blogger blogging bloodshed bloodshot blossom
blotter blousing blowout blowtorch blueberry bluebird bluff blunt bluntness blur bluster boardwalk
boast boastful bobbin bobbing bode bodily body bodyguard bodywork bog boggling boil bologna bolster
bomb bondage bonier boniest boning bonus bony boo book bookshop bookworm boon boorish boot bootee
bootie bootleg booty boredom boring born borough borrow bosom bossiest botany bottle bottling bottom
bought boulder boulevard bouncing boundary boundless bountiful bounty bouquet bourbon bourgeois bout
boutique bowel bowl box boycott bra brace bracket brackish braggart brain brainiest brainless brainy
braking branch brandish brandy brassiere brassy brave braving brawl brawnier brawny bray brazen
breadth break breakable breakneck breast breed breeziest breezing breezy brew bribe bribery bribing
brick bridal bridge briefcase brigade bright brighten brilliant brimmed brimstone bring briniest
brink brisk britches brittle brittler broad broadcast broadside broccoli broil broken broker bronco
bronze bronzing brooch broom broth brought brow browbeat brown brownie bruise bruising brunt brush
brusk brusquest brutal brute bubble bubbly bucket buckle buckling bud budded budding budge buff
buffet buffoon bugger buggiest bugging buggy bugle bugling build built bulb bulbous bulge bulkier
bull bulldog bullet bulletin bullfrog bully bummed bummer bumming bump bumpier bumpiest bumpy bundle
bundling bungalow bungle bungler bunion bunk bunny buoy buoyant burbling burglar burly burn burnish
burnt burp burro burrow burst bus bushel bushelled bushier busier busiest business bustle busy
busybody butcher butchery butler butt butte buttercup butterfly button buxom buy bye bygone bypast
byte byway cabaret cabbage cabbing cabin cabinet cable cabling caboose cache cackle cackling cactus
cad caddy cadence cadet cafeteria caffeine cage cagey cagier cagiest caging cagy cajole cajoling
caking calculi calculus calendar calf caliber calico calk call callable callous callow calve camel
cameo camp campaign campus can canal canary cancel candid candidacy candy canned cannery cannier
canniest canning cannot canoe canon canonical cantaloup canteen canvas canyon capable capacitor
capacity cape capital capped caprice capsize captain captivate captive captivity captor car caramel
caravan carbon cardiac cargo caribou carnage carnation carnival carnivore carolling carouse
carpentry carpet carriage carrier carrion carry cart cartilage cartridge carving cascade cashew
cashier casino casket cassino castaway caste castle castrate casual catalogue catapult catcall catch
catchier catchment catchup catchy catechism catnap catwalk caucussed caught causal caustic cautious
cavalier cavity cavort ceaseless cedar cede ceding ceiling celebrate celibacy cellar celli cellist
cellular cellulose cement cemetery census centipede central century cereal cerebral certain cervical
chafe chain chainsaw chalice chalk chalkiest chalky challenge chameleon champ chance chancing
changing chant chap chapel chaperon chaperone chapt char character charcoal charisma charity
charlatan charm chasing chasm chassis chaste chasten chaster chastise chastity chat chatted chattier
chattiest chatting chatty cheap cheapen cheat checkout cheep cheerful cheerier cheeriest cheery
chemical chemistry cherish cherry cherub cherubim chess chestnut chewier chewiest chic chidden
chieftain childhood children chill chilli chimp chin chinned chinning chip chipmunk chipped chipping
chirp chivalry chlorine chocolate choice choicer choking cholera choose choosey choosier choosy chop
chopped choppiest chopping choppy chord chore chortle chortling chorus chose chow chowder christen
chrome chromium chronic chubbier chubbiest chubby chuckle chug chugged chugging chum chummed
chummier chummy chunk chunkier chunkiest church churn chute cider cigarette circle circling
circulate cistern citation cite citing citrus civilian civility civilize clack clam clammed clammier
clammiest clamming clammy clamor clan clang clap claret clarify clarity class classic classmate
clatter clause clay clean cleanlier cleat cleavage cleaver cleaving clef clemency clergy clergyman
clerical clerk clever click cliff clii climactic climax clime clinch cling clinic clinical clink
clip clipped clipt clitoris clix cloak clock clockwise clockwork clod closer closest closing clot
cloth clothe clotted cloudiest cloudy clove cloven clubbing clubhouse clueless cluing clump clumsy
cluster clutch clvi clvii clxi clxiv clxvi coach coagulate coalition coarsen coarser coast coastal
coat coax cob cobble cobbler cocaine cockier cockiest cockpit cocoanut cocoon codding code coerce
coercing coercion coexist coffee coffer cogency coherence coil coincide coking col colic collating
colleague collect collector collide collie collision collusion colon colonel colonial color colorful
colorless colt comb combat combatant combine combining comedy comelier comet comfort comic comical
coming comma command commando commence commend comment commerce commit committee commodity commodore
common commune communing communism communist community commuter commuting company compare compass
compel compile complaint complete completer complex compliant comply component compose composite
compost comprise compute computer computing conceal concede conceding conceit conceive concept
concert concerto concise conciser concisest conclude concord concur condiment condition condom
condone condoning conducive conduct conferred confetti confidant confiding confine conflict conform
confound confuse congeal congest congress conical conjugal conjugate conjuring connect connector
conned connote conquer conqueror consensus conserve consider console consoling consort constant
constrain consul consular consulate consult consumer contact contain contempt content context
continent continue continuum contour contract convene convening converse convertor convex convey
convict convince convulse cooky cooperate cop cope copier copper copulate copyright coral cord
cordless cordon corduroy core coring corkscrew corn corniest cornmeal corollary coroner corporal
corpse corpus corpuscle correct corrector corridor corrode corrosion corrupt cortex cosier cosiest
cosmonaut cost costliest costuming cosy cot cottage cough count countdown countless couple coupon
course courteous cousin cove covenant covert covetous cow coward cowboy cowgirl cowhide cox coziest
cozy crab crabbed crabbier crabbiest crackpot cradle craft craftiest craggy cram cranberry crane
cranky crash crass crate crater crating crave crawfish crayfish crayon craze crazier crazing crazy
cream creamier creamiest creasing creating creative creator credence creditor credulous creek
creepier creepiest creepy cremating crepe crescendi cretin crevasse crevice crib cricket criminal
cringe cringing crippling crises crisis crispy criteria criterion critic critical croak croci crock
crockery croon crop croquet cross crosswalk crotch crown crude crudity cruel cruellest cruise
crumblier crummier crunch crunchy crusade crusading crustier crustiest crusty crutch crybaby crypt
cryptic cube cubic cuckoo cuddle cuddling cuddly cue cuff cuisine culinary cull cullender culminate
culpable cup cupboard cupful cupped curable curator curdle curdling curfew curiosity curl currency
current curry curse cursing cursor curst curtail curtsey curtsy curvature custody customize cute
cuticle cutlery cutlet cutthroat cyanide cyclic cyclone cymbal cypress cyst dab dabbling dachshund
dad daddy daemon daffodil dagger daily daintily dais dally dam damage damaging damming damn
damnation dampness damsel dance dancing dandier dangle dapper dare daredevil daring dark darn dash
data dating daughter daunt dawdle day daydreamt daze deacon deadlier deadlock deal dear dearth
deathbed deaves debase debasing debate debating debility debit debug debugger debut decade decadent
decay deceasing deceitful deceive deceiving deception deceptive decibel decide deciding decimate
decipher decision deck declare decline decoder decoding decompose decorate decorous decorum decoy
decree decrepit decry dedicate deduce deduct deductive deed deem deep deepen deface defacing default
defect defend defensing deference defiance defiant deficient defile defiling defining deflect deform
defraud defrost deft defy degrade degrading deign deity dejection delegate deleting delicacy delight
deliria delirious deliver delivery delude deluding delusion demagog demented dementia demerit demise
demising democracy democrat demolish demon demote demotion demount demurer demurest den denial
denigrate denim denoting denounce dent dentistry deny deodorant depart depend dependant depiction
deplete depleting deplore depose deposing depraving depravity depress depriving deputy derail
derelict deride deriding derive deserve design designate desiring desirous desist desktop desperate
despising despite despot despotic destine destiny detach detail detain detect detection detergent
deterred deterrent detonate detonator detract detriment devalue deviating devilling devise devolve
devotee devoting devour devout dexterous diabetes diagnose diagnosis diagonal dial dialect dialog
diamond diaphragm diarrhea diarrhoea dicing dictate dictating diction did diet dietary different
diffusion digestion digestive dignitary dignity dilate dilating dilemma diligent dill diluting dim
diminish dimming dimpling dine dinghy dingier dingiest dinner dinning dinosaur diocese dioxide dip
diplomacy diplomata dipped direct direction direr direst dirt disable disallow disarm disband
disburse discern discharge disclaim disclose disco discover discus disdain disease disengage
disfavor disfigure disgust dishonor disk dislike disliking dismal dismantle dismay dismiss dismount
disobey dispatch dispelled dispenser disperse displace display displease disposal dispose disprove
disproven dispute disputing disrepair dissipate dissolute distaste distil distract distrust disturb
disuse ditch ditty dive diverge divergent diverse divert divide dividing divine diviner diving
divining division divisive divisor dizzier dizziest dizzy doctrine document dodge dodo doer dog
dogged dogging doghouse dogma dogmata dogmatic dole doleful doling doll dolly dome domestic dominate
dominion domino don donation done donkey donor donut doodle doodling doom doorman doorway dopey
dopier dopiest dopy dormitory dotting doubly doubtful doubtless doughnut dour dousing down downgrade
downhill downtown downward downy dowry doze dozing drab drabbest draftier draftiest draftsman
draftsmen drafty dragged dramatic dramatist drank drape draw drawl dread dreadful dreamier dreamy
drearier dreariest dregs dressy drier drift driftwood drily drinkable dripped dripping drive drivel
drivelled driven driveway driving drizzle drizzling droll drool drop dropping dross drought drouth
drowsier drowsiest drowsy drudgery drug drugged drugging druggist drugstore drum drummer drumming
drunkard dry dryness dualism dub dubbed dubious duchess duck duckling duct dud duel duelling
dullness dumb dumpier dumpy dune dung duo duping duplex duplicity durable duress duskiest dust
dustiest dustpan duty duvet dwarf dwindle dwindling dye dying dyking dynamic dynamical dynamo
dynasty dysentery eagerness eagle ear earl earlier earmark earn earthlier earthy ease easiest easily
easing east eastern easy easygoing eat eaten eave eavesdrop ebony eccentric echo eclectic eclipsing
ecology economic economize economy ecstatic eczema edgeways edgy edible edict edifice edition editor
editorial educate eeriest eery effective effectual efficient ego egoism eighth either ejaculate eke
eking elapsing election elective elector electoral electrify electrode elegance elegant element
elevating elevation elevator eleven eleventh elf elicit eligible elitism elk ellipsis elm eloping
eloquent else elsewhere elucidate elude eluding elusive elves emanating embalm embark embezzle
embitter emblem embody embrace embracing embryonic emerald emerge emergence emergency emigrate
eminent emir emissary emit emitted emotion emotive empathy emphases emphasize emphatic emphysema
empirical employe empower emptier emptiest emptiness empty emulate emulating emulation emulsion
enable enabling enact enactment enamel enamelled encompass encore encrypted endeavor endemic endive
endorsing endow endowment endure endways energy enforcing engage engender engrave engraving engulf
enhance enhancing enigma enjoy enjoyable enjoyment enlarge enlarging enliven enmity enormity enough
enrage enraging enrol ensemble enslave ensue ensuing ensure entangle enter enthrall entire entirety
entitle entrap entrapped entreaty entrench entwining enunciate envelop envelope enviable envisage
envoy envy eon epaulet epaulette epic epidemic epidermis epileptic epilog epitome epsilon equal
equalize equalled equalling equate equation equator equine equipment equitable equivocal era
eradicate erect erection ergo ergonomic eroding erosion errant erratic erstwhile erupt escalate
escalator escapade escape escaping esoteric essential esteem esthetic estimate eternal ether ethic
ethnic etiquette eulogy euphemism eureka evacuate evading evaluate evasion evasive eve eventful
eventual evergreen every everyday everyone evident eviller evillest evolution evolve ewe examiner
example excel excellent excelling except exception excerpt excess excessive excise exciting exclaim
exclusive excreting excuse executing execution executive executor exemplary exempt exercise exertion
exhaling exhuming exiling exist existence exonerate expanse expansion expect expedient expend
expense expiring expletive explicit explode exploit explore exploring explosion explosive exponent
expose exposure expound expulsion extort extortion extra extract extradite extravert extremer
extremest extrovert exuberant exuding exultant eyelash fable facade face faceless facet facetted
facetting facial facility facing facsimile faction factor fad faggot fail failure faint fair fairy
faithful faithless fake fallacy fallible falsity falter familiar family famine famous fanatic
fanatical fancier fanciest fanfare fanned fantastic fantasy fascinate fascist fashion fast fatal
fathom fatigue fatiguing fatten fatter fattier faucet faultier faultiest faultless fauna favor
favorable fawn fazing fearful fearless feasible feather feathery feature featuring feces fed fee
feeblest feedback feet feign feint feline fellow felony female feminine feminist fen fencing ferment
ferocious ferret fertile fertilize fervent fervor fester fetch fetich fetid fetish fetter feudalism
fever fez fiasco fibbed fibber fiche fickle ficklest fiction fictional fiddle fiddler fidelity fiend
fiendish fiercer fiercest fierier fieriest fiery fiesta fiftieth fifty fight figment filing filly
film filmier filter filth filthiest filthy fin final finale finance financier financing finch fine
finesse fingertip finickier finish fir fire fireman firemen fireplace fireside firewood firm
firmness firmware firsthand fisherman fishiest fishy fist fitness fitted fitter fittest fitting
fiver fixable fizz flabbiest flag flagged flagging flagpole flagstone flair flak flake flaky flame
flammable flank flap flapped flapping flaring flashback flashier flashiest flat flatness flatter
flattery flaw fleck fledged fledgling flee fleecier flesh fleshier fleshiest fleshy flex flexibly
flick fliest flight flighty flimsiest flimsy flinch flint flippest flipping flirt flitted flitting
flog flogging flood floor floppier floppiest floppy floral florist flotilla flounce flounder flour
flourish flout flown flu flue fluency fluent fluffier fluffiest fluke flunky fluster flutist flutter
flux flyover foam foamier foamiest focal foci focussed focusses foe foetal fogey fogged foggier
foggy foghorn foible fold foliage folklore folksier follow folly foment fond fondness foodstuff fool
foolhardy foolish foolproof footage foothold footpath footstep footstool footwork fora forage forbad
forbade forbear forbid forbidden forbore forceful forceps forcible fore forearm forebode forecast
forehead foreign foreleg foreman foremen forensic foresaw foresee foreseen forestall foreswear
foreswore foresworn foretold forewarn forewent foreword forgave forgery forgive forgone forlorn form
formality format formative formless formulae formulate forsaking forsook forswore forsworn fort
forth fortieth fortify fortnight fortunate forty fossil fossilize fought foul found foundling fount
four fourth fox foxy foyer fracas fractal fracture fragile fragility fragrance framework framing
franchise frantic free freezing frenzy frequent freshman freshmen fretful fretted fretting friction
friend fright frighten frightful frigid frill frillier frilly fringe friskiest frisky frivolity
frizzier frizziest frock frolic from frond front frontal frontier frost frostbite frostier frostiest
froth frothier frothiest frown frozen fruit fruitful fruitier fruition fruitless fruity frustrate
fuelled fuelling fulcrum fulfil full fullness fully fumble fumbling fumigate fuming fun funeral
fungicide funnel funnelled funnest funnier funniest fur furl furlong furlough furnish furniture
furor furrow furry fuse fuselage fusing fusion fussier fussy futility future fuze fuzing fuzzier
fuzzy gab gabbed gabbing gadget gag gagged gaiety gain gait gallon gallop gallows galore gambit
gamble gambler gambling gamer gaming gamma gamut gang gangplank gangrene gangster gangway gap gape
garaging garb garden gardenia gargle gargling gargoyle garish garland garlic garnet garnish garret
garrulous garter gas gaseous gash gasket gasolene gasoline gasp gassed gasses gastric gate gateway
gather gating gaudier gauging gaunt gauntlet gawk gawkier gawky gay gayety gazette gazetting geese
gem gender gene genera generic generous genial genie genii genital genocide genre gentile gentle
gentleman gentlest gentry genuine geography geologist geology geometric geranium germ germinate
gesturing get getaway ghastly ghetto ghost ghostlier ghoul gibe giddiest giddiness gig gigging gild
gill gilt gimmick gin ginger ginned ginning girder girdle girdling girl girlhood girth gizzard
glacier gladden glade glamor glamorous glance glancing glare glass glassiest glassy glazing glen
glib glibber glibbest glider glimmer glisten gloat globular gloom gloomier glorious glossary
glossier glossiest glossy glove gloving glue glum glummest glut glutted glutton glycerin glycerine
gnash gnaw gnome gnu goad goal goat gob gobble gobbling goblet goddess godfather godless godlier
godliest godlike godparent godsend goes goggle going gold goldfish golf goner gong goo goodie
goodnight goofier goofiest goofy gooiest goosing gopher gore gorge gorgeous goriest gory gospel
gossamer got gouging goulash gourmet gout govern governess governor grab grabbed grabber grabbing
graceful gracing gracious gradation grade grader gradient grading gradual graffito gram grammar
grand grandeur granite granny granule grapevine graph graphite grapple grappling grasp grate
grateful gratify grating gratitude gratuity grave gravel graven graveyard gravitate gravity gray
greasier greasing greasy greatness greed greediest greedy greenery greenhorn greet grey greyhound
grid grieve grieving grievous grill grille grimacing grimier grimiest grimmest grimy grinned grip
gripping grislier grisly gritted grittier grizzlier grizzly grocer grocery groggy groove groovy
grotesque grotto grouch grouchy ground group grove grovelled growl grown growth grub grubbier
grubbing grubby grudge gruel gruesome gruesomer grumble grumbling grumpier grumpiest grumpy
guarantor guerrilla guess guessable guesswork guide guidebook guideline guild guiltless guinea guise
gulf gull gulp gummed gumming gun gunfire gunman gunned gunner gunning guppy gurgling gush gustiest
gusty gut gutted gutter guy gybe gymnasia gymnast gyrating habit habitat habitual hackney hag hah
hail hailstone hairdo hairy hale halest half haling hallway halon halt halving hammed hammer hamper
hamster hamstring hand handbag handbook handcuff handicap handiest handlebar handsful handshake
handsome handsomer hangar hangout hangover hanker happiest happily happiness happy harass harbor
hard hardback harden hardline harem harlot harm harmless harmonic harmonica harmonize harness harry
harshness hash hassle haste hastier hastily hasting hat hate hatred hatted hatting haul hawk hay
haystack hazard headache headiest headland headlight headlong headphone headrest headstone headway
heady heal health healthful healthier hear hearsay heart heartbeat heartburn hearten hearth heartier
heartiest heartily heat heaving heckler heckling hedge hedgehog heed heedless heel hefty heinous
heir hell hello helmet help helpful hem hemming hen hence hepatitis her herald here hereafter hereby
heredity herein heretical hernia herniae hero heroic heron herpes herring hes hesitancy hesitant
hesitate hew hexagon hexagonal heyday hiatus hibernate hiccup hickory hidden hide hideous hierarchy
highbrow highland hiker hiking hilarious hilarity hillbilly hillier hilliest hillside hilt him
himself hinging hint hip hipped hipper hippest hippie hipping his historian historic hitch hitherto
hoard hoarsest hoax hobbit hobble hobbling hobgoblin hobnob hog hogged hogging hoist hole holiday
holler hollow holly holy homeland homeliest homespun homeward homicidal homicide honest honesty
honeycomb honing honor hoof hook hooray hoot hooves hope hopeless hopped hopping hopscotch horde
hormone horniest horoscope horrible horribly horrific horrify horseplay hose hospital host hostage
hostel hostile hotel hothead hotter hour house household housewife hub hubbub huddling huff huffiest
huge hugged huh hum humane humanism humanist humanity humanize humbler humblest humbling humbug
humidify humidity humiliate humility hummed humming humorist humorous hunchback hung hungrily hungry
hurdle hurl hurrah hurray hurricane hurry hurtful hurtle husk huskier hustling hyaena hybrid hydrant
hyena hygiene hygienic hymnal hyphen hyphenate hypnosis hypnotism hypnotist hypocrite hysteria
iceberg icicle icier iciest icing icy identical identity idiocy idiom idiomatic idle idly idolize
idolizing idyllic ignite ignition ignorance iguana iii ilk ill illegal illicit illness illogical
illusory image imaginary imagine imaging imagining imbecile imbedding imitating immensity immersing
immigrate immoral immortal immovable immune immunity impair impale impaling impart impasse impassive
impeach impedance impeding impel impelled impelling impend imperil impinge implement implicate
implicit imploring impolite import imposing impostor imprecise impress imprison impromptu improper
improving impudent impulsing impulsive impunity impurer impurest impurity inaner inanest inasmuch
inaugural inbred inbreed inbuilt incapable incarnate incentive inception incessant incidence
incident incision incline inclining inclose inclosing include including inclusive income incorrect
increase incubator incumbent incur incurable incurring indebted indecency indeed indelibly indices
indignant indignity indirect indolent indoor indorse induce inducing induction indulge indulging
inert inertia inexact infamous infamy infant infect infer inference inferior inferred inferring
infertile infest infidel infield infinity infirmity infix inflaming inflate influence influenza
influx info informal informant infrared infringe infuriate infuse infusion ingenuity ingrain
inhaling inherent inherit inhibit initial inject injection injurious injustice inkiest inkling inky
inlaid inland inlay inmate innate innermost innkeeper innocence innocuous input inputted inputting
inquiring insanity insecure insert insertion insight insincere insinuate insistent insoluble
insolvent insomnia inspect inspiring instal instance instant instep instigate instil instill
institute instruct insular insulate insulator insulin insurance insure insurgent intact integrity
intensest intensify intensity intention intercom interface interfere interior interject intern
internal internet interplay interpret interrupt interval intervene interview interwove intestine
intimacy intrench intrepid intricacy intrinsic introduce intrude intruder intrusion intuitive
inundate invader invading invalid inventive inverse inversion investor invisible invisibly invite
invoking involve iodine irate ire iron irritable irritably irritant island isolating isolation issue
itch itchier itchy item itemize iterate iterative its ivory ivy jab jabbed jack jackal jackdaw
jackknife jade jading jagged jailor jalopy jamb jamboree jangle jar jargon jarred jaundice jaunt
jauntier jauntiest jauntily jaunty jaw jawboning jazz jealous jeer jell jeopardy jerkier jersey jet
jetted jetty jewelled jeweller jewelling jewelry jibe jibing jig jigged jiggling jilt jinx jitterier
jittery job jockey jocular jog jogged jogging join joint jollier jolliest jolly jostle jostling jot
journal jovial joyous joystick jubilant judge judgment judicious juggler juggling juiciest juicing
juicy jumbling jump jumpier juncture junior juniper junk junkie junky jury just justice jute jutted
juvenile kangaroo keel keep keg kept kerchief kernel keynoting keystone keyword khaki kickoff kid
kidded kidnap kidnapped kidnapper kidney kiln kilowatt kin kinda kindle kindlier kindliest kindness
kindred king kingdom kink kiosk kit kite kitten kiwi knead knee kneel knelt knew knickers knife
knight knit knitting knob knock knot knotted knottiest knotting knuckle koala kowtow labelling labor
laborious lace lacerate lacier lacing lack lacquer lacy lad ladder lade ladle lady lag laggard
lagging laid lain lair lake lambda laming landmark lane language languid languish languor lankier
lankiest lap lapel lapped lapse larceny largest larva larynges larynx laser lash last latch later
latex lath latter lattice laudable launch laureate laurel lavish law lawful lawless lawmaker lawn
laymen laziest leach leafier leafiest league leakage leaky learnt leasing leathery leaving lectern
lecturer led ledge ledger leech leek left leg legal legalize legend legendary legging leisure lemon
length lengthen lengthy leper leprosy lept lesbian lesion less lesson letdown lethal lethargy letter
lettuce leukemia levee level levelled levelling lever levity levy lexica lexical lexicon liable liar
libelled libelling libelous liberty lice licensing lichen lick lie lieu lifeguard lifelike lifelong
lifespan lifestyle lift ligament lighten lightness lii like likeable likelier likeness liker likest
lilac limb limelight limerick liming limousine limp linchpin line lineage linefeed liner linger
linguist lining link linkage linoleum lint lion lipstick liquefy liqueur liquidate liquor lisp
listen listless lit lithe lither lithest litterbug little liveliest liver livestock living lix load
loam loan loath loathe loathsome loaves lob lobbed lobby lobbyist lobotomy lobster locale localize
locating location lock locust lodge lodger lodging loft lofty logarithm logged logger logician logo
loin loincloth long longhand longitude look loon loonie looniest loose loosest lop lore lorry lose
losing loss lost loth lotion lottery loud lounge lousiest lousy lovable love lovelier loveliest
lover loving low lowlier lowliest loyal loyallest lubricant luckily lucky lugged lull lumber
luminous lump lumpier lunacy lunatic luncheon lunchtime lunge lupine luscious lush lustier lustiest
lustre lusty lute luxuriate lvi lxi lxii lxiv lxix lye lymph lymphatic lyre macaroni mace machete
machinery machining macho macintosh mad madam madcap madder madman madmen madness maelstrom magazine
magenta maggot magic magical magnet magnetism magnify magnolia magnum magpie mahogany maid mail
mailbox main mainline mainstay maintain maize majesty majority maker makeup malformed malice
malicious malign malignant mallard malleable mallet mamma mammalian manacle manacling managing
mandate mandating mandatory maneuver manger mangier mangiest mangle mango mangrove manhole manhood
mania manic manifest manifold manliest manliness manner manning mannish manor manual manure map
mapper mar marathon marbling march margarine marginal marigold marihuana marina marital maritime
market marred marriage marring marrow marsh marshal martial martin martyr marvelled marvelous
mascara masculine massage mast masterful mat matador match matchbook material maternal math
matrimony mature maturing maudlin maxim maxima maximal maximize maximum may mayor mealier mealy mean
meander meanwhile measles measliest measly measure mechanic mechanism mechanize medallion meddler
meddling median mediate mediating mediator medical medicate medieval meditate medium meek meekness
megabyte mellow melodious melodrama melody member memorable memorably menacing menagerie menial
menopause mental mentality menu meow mercy mere merest merge merging meridian meringue merrier
merrily merriment mesdames message messenger messiest metal metallic meteor meteorite method metro
mew mezzanine miaow mice microfilm microwave midday middle middleman middlemen midnight midsummer
midwives midwiving mien might migraine migrant migrating migratory mile milestone militancy militia
milkier milkiest milkman milky mill milligram million millionth mime mimicked mimicking mimicry
miming mincemeat mincing mindful mine miner mingle mingling minimal minion minister mink minnow
minor minority minuet minus minute minuter minuting miring mirth misbehave mischief misdirect miser
miserable miserably misfitted misjudge mislaid mislay mislead misled misprint misread misshapen
missive misspell misspelt mist mistake mistaking mistier mistiest mistletoe mistook mistress
mistrust misty mite mitten mix mixture mobbed mobile mobility mobilize moccasin mock mockery modal
model modelled modelling moderator modern modernity modesty modicum modifier modulate module mohair
moist moisten moisture molasses mold moldy mole molecular molecule mollify mollusc mollusk mom
moment momma monarch monastery monastic monetary mongoose mongrel monogram monolog monotony moonbeam
moonlight moor moose mop mope mopped morass morbid more morn moron moronic morose mortal mortality
mortar mortuary mosaic mosque moss motif motive motliest motorbike motorcade mound mount mourn
mournful moussing moustache mouth mouthful moveable movie mow mown much muck mucous muddier muddiest
muddle muddling muddy muffin mug mugged mugger mugginess muggy mulch mule multiple multiply
multitude mumble mummy mumps munch municipal mural murder murky muscle muscular muse museum mushier
mushiest mushroom music musical musket muss mussel mustache mustang mustiest mute muter mutest mutt
muzzle muzzling myopic myself mystical mystify myth mythical nagging naive naked nameless naming
napalm napped nappy narcotic narrating narration narrator narrow nasal nastier national nativity
nattier natural naughty nauseate nauseous navigator navy nay nearby neatness necessity necklace
neckline nectar needier neediest needy negate negation negative neglig negotiate neigh neither
nephew nerve nest nestling netted netting nettling neurology neurosis neuter neutral neutron never
new newbie newborn newspaper newsprint newsy newt nibble nibbling nicer nicest nicety niche nickel
nickname niftier nifty nigh night nightclub nightfall nightgown nightmare nimble nineteen ninety
ninth nippier nippy nitwit nobility noble nobleman noblemen nobler nobly nocturnal nod nodding
noiseless noisier noisiest noisiness noisy nomad nomadic nominal nominate none nonprofit nonstop
nook noon noose normal normality north northward northwest nose nosey nostalgia nostril nosy not
notably notch notional notorious nougat noun nova novelist novice noxious nozzle nuance nuclear
nucleus nude nuder nudest nudity null numbness numerator nuptial nurse nursing nurturing nut nutmeg
nutrition nutshell nutted nuttier nuttiest nuzzle nylon nymph oak obedience obedient obese obesity
obituary objection objector obligate obliging oblique oblivious oblong obscene obscener obscenest
obscurer obscurest observe observing obsession obsolete obstacle obstinacy obstinate obtain
obtrusive obtuser obtusest occasion occupancy occurred occurring octagonal octopus odd ode odious
odometer off offbeat offense offhand officiate officious offload offshore offstage ogle ogre ohm
oilier oiliest oily ointment okay okra olden olfactory olive omen ominous omit once one onerous
oneself ongoing onion only onrush onto oozing opaquer opaquest opaquing openness opera operatic
operation operative operator opinion opportune opposing oppress oppressor optician optima optimal
optimum option optional opus oracle orange orator oratory orbital orchid ordeal order ordinance
ordinary organic organism organizer orgy orient orifice origin originate osmosis ostracize other
otherwise otter ouch ought our out outclass outcome outdo outdone outermost outfit outgrew outgrown
outhouse outlaid outlet outline outlining outmoded outnumber outpost output outraging outright
outrun outset outshine outsider outskirt outstrip outstript outwit ova ovation over overate
overboard overbore overcame overcast overcoat overcrowd overdo overdraw overdrawn overeaten overgrew
overhear overhung overkill overlain overland overlap overlong overlook overpass overrate overrode
overrun oversee oversleep overslept overt overtaken overtime overture overturn overusing overview
overwork ovum owing oxen oxidizing oyster ozone pace pacemaker pacific pacifier pacifist pacing pack
package packaging packet pact padded padding paddock pagan page pager paging painless pair pajamas
palace palatable palate palatial pallor palm paltriest pamper pamphlet pan pancake pancreas panda
pander pane panel panelled pang panhandle panic panicking panned panorama pant panther pantry panty
pap papa papaya paprika papyrus par parachute parading paradise paradox paraffin paragon parallel
paralyses paralysis paralyze parameter paranoia paranoid parasitic parasol parcelled parch pardon
parental parish parity park parka parkway parlor parochial parody parole paroling parse parsnip
parsonage part partake partaking partial partisan partition passbook passenger password paste pastel
pastier pastoral pasture pasty patch pate patent paternal paternity pathos pathway patriarch
patrimony patrolled patron patter paucity paunch paunchier pausing pave paving pawn pay payable
payment payoff pea peace peaceable peaceful peach peak peal pear pearl peasant pease peat pebbling
pecan peck peculiar pedagogy pedal pedant pedantry peddler pedigree peek peel peep peer peerless
peeve peevish pelican pelves pelvic pelvis pen penalize penance penchant pendant pendulum penetrate
penguin penitence penknives penned penniless pension pensive pentagon peony people peopling pepped
per percent perchance percolate perforate perform perfuming perhaps perilling perilous perimeter
periodic periphery perjure perjuring perkier perkiest perky permit permitted persevere persist
person persona personal personify perspire pert perturb perusal perusing pervasive pervert peskier
peskiest pessimism pessimist petal petite petition petted pettiness petty petunia pew phantasy
phasing pheasant phone phonetic phonier phoniest phoning phony photocopy photon phrasing physic
physicist physique pianist piano pick pickaback pickax pickaxe pickier pickiest pickling pickup
picnic picture picturing piddle piddling piece piecemeal piecework piecing pierce piety pig pigeon
pigged pigging pigtail pike piking pile pilgrim pill pillaging pillar pimple pimplier pimpliest pin
pinch pineapple pinnacle pinning pint pioneer pipe pipeline piping piquing pirouette pis pistol pit
pitch pitchfork pithy pitiful pittance pitting pivotal pixie pixy placate placating placentae placid
placing plain plaintive plane planetary plankton planner plantain plaque plastic plate plateau
plateaux platform plating platitude platoon plausible playful playhouse plaything plea pleasant
pleat pledge pledging pliable plodding plopped plopping plot plotted plotter plotting plow ploy
plucky plug plugged plume plump plunge plunger plunging plural plurality plus plush plusses
plutonium plywood pneumatic pneumonia poach pocket pockmark pod podded podium poignancy poignant
point pointless poise poising pokey polemic police policeman policemen policing polio polite
political polka pollster pollution polygamy pomp pond ponderous pony pool poor pop popcorn popped
popping populace popular populate populous pore poring pork porous porpoise porridge port portable
portal portent portfolio porthole portico portion portlier portray pose position positive possible
post postage postal postbox postcard postcode posterior postman postpone posture posy pot potassium
potato potency potted pottery pound pour poverty power powerless powwow practical practice prance
prancing prattling prawn preach precedent preceding precipice precise preciser precisest precision
preclude precursor predator predatory predicate predictor preen preface prefacing prefect prefer
preferred pregnancy pregnant prelude premature premier premiere premise premising prenatal prepare
prepay presence preside president pressure prestige presto presume presuming pretence pretend
pretense prettiest pretty pretzel prevail prevent preview previous prevue price priceless pricing
pricklier prickling priest prim primaeval primal primarily primate primitive primmer primmest primp
primrose prince principal principle print printable printout prior prism prison private privatest
privier priviest privy probably probe problem process proclaim procure procuring prodded prodigy
producer profaning profanity profess profile profiling profound profusion progeny program programme
prohibit project prologue prom promenade promise promising promote promotion propagate propelled
prophecy prophesy prophet propose proposing propped prospect prosper prostrate protector protest
protestor protocol prototype protract protrude proud provable provably provide provider providing
province proving provision proviso provoking prow prowess proxy prude prudence pruning psalm pseudo
psych psyche psychic pub publicity publish puddle pudgiest pudgy pueblo puff puffiest puffy puking
pulley pullover pulsate pulsating pulse pulverize pumice pummelled pumpkin pun punch punchline
punctual punctuate puncture pungent puniest punish punitive punk punning punt puppet purchaser pure
puree purer purgatory purge purging purple purpose purposing purr pursing pursue pursuit pus
pushover pussiest putrid puzzling python qua quack quadrant quadruple quail quaint quaking quality
quandary quantify quantum quark quarrel quart quartz quash quaver queasy queen quell quench query
question quiche quicken quicksand quilt quinine quintet quipped quit quite quitted quiz quizzes
quizzing quotation quote quotient quoting rabbi rabbit rabid rabies race racetrack racial raciest
racist rack racket racoon racy radar radiant radio radius raffle raffling raft rage ragged ragtime
rail railroad rain raindrop rainfall rainier rainstorm rainy raise raisin rake raking ramble rambler
rampage rampant ranch random range rank rankling ransack rap rapidity rapist rapping rapture rarer
raring rascal rash rasp raspberry raster rat rate rather ratify ration rational ratted ratting
rattler raucous ravage ravel raven ravenous ravine ray rayon razor react reaction read readier
readiest readiness readjust realistic realizing realm rear reassure rebate rebating rebelled
rebelling rebind rebirth reborn rebuild rebuilt rebuke rebuttal rebutted recant recapped recapture
recede receipt receiver receiving recent recess recharge recipe recipient recital reckless recluse
recognize recommend recount recourse recover recovery recruit recta rector recurrent recurring
recycle recycling red redefine redesign redid redirect redone redraft redraw redress reduce
reduction redundant reed reelect refer referee referenda referring refill refine reflect reflector
reflexive refrain refresh refuel refuge refugee refurbish refuse refute regain regale regalia regime
regiment registrar regress regular reimburse rein reinstate reis reiterate rejoice rejoicing rejoin
relapsing relate relating relation relative relax relay relegate relent relevance relevant reliably
reliance relic relief religious relish relive reload reluctant remade remainder remaking remark
remedy remember remind remission remitted remitting remodel remorse removal remove renegade renege
reneging renew renewable renounce renovate renown repayment repel repelling repent repentant replace
replay replete repleting reply reposing represent repress reprieve reprimand reprint reprisal
reproach reprove repudiate repulsion request requiem reread reroute resale rescind rescuer rescuing
research resemble resent reserving reservoir reshuffle residence residue resonant resort resound
respect respond response restart restless restrain resubmit resultant resume retain reticent retina
retinae retire retrace retrieval retriever retry reunion reunite reuniting reuse revamp revelled
reveller revelling revenge reverent reverie revering revision revisit revival reviving revolver
revolving revving rewind rework rewritten rhinoceri rhyme rhyming rhythm rhythmic ribbed ribbing
rice rich ricing ricketier ricksha rickshaw ridded ridden ridding riddling ridicule rifer rifle
rifling rift rig rigging right righteous rightful rightness rigid rigidity rigorous riling rim
rimming ring ringlet ringworm rinsing riot riotous rip ripe ripen ripeness riposte ripped ripping
ripple rippling rise risen riser riskier risky rite rival rivalled rivalry rivetting roach roadblock
roadside roar robe robot rocket rocky rod rodent rodeo roguish role romance romancing romp roof
rookie roomiest roommate roomy roost root roping rosemary rostra rostrum rosy rotary rotate rotating
rote rotten rotund rotunda rouge roughen round roundness rouse rout route rowboat rowdier rowdiest
rowdiness rowdy royal rpm rub rubbed rubbing rubier rubiest ruby rucksack ruckus rudder ruddy
rudeness ruder rudest rue ruffian ruffling rugby rugged ruing ruinous rule ruler ruling rummer
rummest rummy rump rumple run runaway rung runner runnier runniest running runt rupture ruse rush
rustic rustiest rustle rustler rustling rut ruthless rutted rye saber sabotage saboteur sac sack
sacrament sacrifice sacrilege sadden sadder saddest saddling sadistic safer safest safety sag sage
sagebrush sagged sagging said sail sailboat saint sale salesmen saliva sallow salmon salon saloon
salty salute saluting salvaging salvation salve salving sampling sanctity sand sandbag sandpaper
sandstorm sandy saner sanitary sanity sank sanserif sap sapling sardine saree sari sash sassiest
sassy sat satellite satire satirical satirize saturate saucepan saucer sauciest saucing saunter
savage savager savagery savaging save saver saving saviour savvier saw saxophone scabbed scaffold
scaling scallop scalpel scandal scanning scanty scapegoat scarcer scarcest scarcity scare scarf
scarier scarred scarring scathing scatter scavenger scenic scent schedule scheduler scheming
schoolboy schooner scientist scoff scold scollop scoop score scoring scorpion scotch scour scourge
scout scram scrammed scramming scrap scrapbook scrape scrapping scratch scrawnier scrawny screen
screw screwier screwiest screwy script scripture scrub scrubbing scruff scruple scrupling scuffling
scumming scuttle scuttling sea seafaring seafood seaman search seashell seashore seasick seasonal
seat sec seceding secession seclude secluding seclusion secret secretary section secular securer
securing sedan sedater sedatest sedative sedentary sediment seduce seducing seduction seediest seedy
seek seen seepage seethe seize seizure seldom select selection selective selfish semen semester
semicolon senator send senile sense senseless sensing sensor sensory sensual sensuous sent sentence
sentience sentiment sentry sequence sequencer sera serenade serener sergeant serial serious sermon
service servicing serving set setting settling seventeen seventh several severance severe severity
sewn sexual sexuality sexy shabbier shabbily shackle shadiest shading shadowier shady shaggy shake
shakier shaking shaky shall shallow shame shameless shampoo shanty shape shaping sharing shark
sharpness shatter shaven shaver shaving shawl shaykh she shear sheath sheathe sheave sheen sheep
sheet sheik shellfish shelter shelving sherbert sherbet sherry shield shift shiftier shiftless
shifty shimmer shin shine shingle shingling shinier shinning shiny ship shipment shipped shipwreck
shire shoal shock shod shodden shoddier shoe shoelace shoot shopped shopper shopping shoring shorn
shorthand shortness shot shotgun should shovelled show showcase showdown showman shown shrapnel
shredded shrew shrill shrimp shrine shrivel shroud shrubbery shrug shrunk shuffle shuffling shunned
shutdown shutter shutting shuttling sic sicken sickle sickness sidetrack sidewalk sidle sierra
siesta sieve sieving sigh sight sigma signal signalled signify signpost silence silencing silent
silk silken sill silliest silt silver similar simmer simplest simulate simulator since sincere sine
sinew sing singe single singling sinned sinner sinus siphon sipping sir sire sirloin sirup sissier
sissy sitting situate situating sixth sixtieth sixty sizable sizer sizing sizzle sizzling skein
skeleton skeptic skeptical skidded skidding skilful skillet skillful skim skimmed skimming skimpier
skimpiest skin skinned skinnier skinny skip skipped skipping skirmish skulk slabbing slacken slag
slain slake slaking slam slammed slang slant slap slapped slapping slapstick slat slaughter sleazier
sled sledding sleek sleepiest sleepless sleet slender slept slice slicing slid slide sliest slight
slim slimiest slimmed slimy sling slingshot slip slipped slipper slippery slipping slit slob slog
slogged slopped sloppier slot sloth slouch slow sluggish sluicing slum slumber slumming slump slur
slurred slush sly slyness smack small smallish smallpox smash smear smell smellier smelly smelt
smidgin smile smirk smit smith smitten smock smoking smoky smolder smooth smother smudging smugger
smuggle smut snag snake snaking snap snapped snappier snapshot snare snarl sneakiest sneaky sneeze
sneezing snicker snide snider sniffle snip snipped snippet snitch snob snobbish snootiest snooty
snooze snoozing snore snoring snot snout snowball snowdrift snowiest snowstorm snug snugged snuggle
soap soapier soapiest soapy sobriety sociable social socialist society sociology sock socket sod
soda sodium sofa soft soften software soggier soggiest solace solar soldier solemnity soli solicitor
solidify soling solitary soloist soluble solution solvent solving somber sombre some someplace son
sonata song sonic sonorous soon soothe sootiest sooty sop sophistry sophomore soprano sorceress
sorcery sordid sorer sorest sorority sorrow sound soup sour source southern southpaw southward
southwest souvenir sown sox space spaceship spacial spacing spade spading span spangle spangling
spank spanned spanning spar sparkler sparkling sparred sparrow spasm spasmodic spat spatted spatula
spawn spay speak spear spearmint special specialty specify specimen specious speck spectacle
spectrum speech speed speedboat spend spent sperm sphere spherical spice spicy spider spike spin
spinal spine spineless spinning spinster spiral spiralled spire spirit spit spiteful spitted splat
splatter spleen splendor splice splicing splurge splurging spoilt spoke spoken spongier sponging
spongy sponsor spookier spooky spool spore sporran spotless spotlight spotted spottier spottiest
spouse sprang sprawl spray spread spriest sprig springier sprint sprucest sprung spry spun spunk
spur spurn spurt spy squad squadron squalid squall squalor squarer squaring squash squat squatter
squattest squeak squeakier squeaky squeal squeeze squelch squire squiring squirm stabbed stadium
stag stage stagger staid stain stair stalemate stalest staling stall stalwart stamina stamp stampede
stance standby standoff staple stapler stapling star starboard stardom stare starfish stark
starlight start startle starve statelier statement statesman statesmen static stating station
statistic stature status stay steadfast steadily steady steal stealthy steam steamiest steamy
stellar stemmed stench stencil stereo sterile sterling stew stick stickier sticky stiffen stiffness
still stillborn stimulant stimuli stimulus sting stingier stingy stink stint stir stirred stirring
stitch stock stockiest stodgy stoical stoke stoking stolen stolid stonier stoning stony stoop
stopover stoppage stopper stopping stopwatch storage storeroom storey storing storm stormier stout
stove straggler strain strait strand strange stranger strangest strangle strap strapped strata
stratagem strategy streak stream strength stress strew strewn stricken strict stridden stride strip
stripped striven striving strong strove strummed strumming strung strut strutting stubbier stubbing
stubble stubborn stubby stud studding studio study stuffier stuffy stumbling stun stung stunk stunt
stupefy stupid sturdiest stutter stylus suaver suavest subbing subduing subject subjugate sublet
sublime sublimest subliming submit subside subsiding subsidy subsist substance subsystem subtlest
subtly subtract suburb subway succeed succinct succor succulent succumb such suckling sufficing
suffocate suffrage sugar sugariest suggest suicidal suicide suitably suite sulfur sulkier sulkiest
sullen sulphur sultrier sultry sum summer summing summit summon sunburnt sundae sundial sundry sung
sunlight sunning sunny sunset suntanned sunup sup supersede superstar supper supplant supple
supplier support supposing suppress surf surfacing surliest surly surmise surmising surmount surpass
surplus surprise surround survey surveyor survival surviving suspect suspend suspense suspicion swab
swabbed swabbing swampier swapped swat swathe swathing sweat sweep sweeten sweetness swept swerve
swerving swig swill swimming swindle swindler swindling swipe swiping switch swivel swollen sword
swore sworn swum syllable syllabus symbolic symbolism symbolize symmetry symphony symptom synagog
synapse syndicate synonym synopses synthesis syphon syringe syringing system tabbed tablet taboo
tabu tacit tackling tact tactic tactless tadpole tag tagging tail tailgate taillight tailor tailspin
takeover taker taking talc talkative tally talon taming tamper tandem tang tangent tangle tangling
tango tankard tanning tantalize tap tape tapestry tapped tardier tardiness tardy target tariff
tarnish tarred tarring tarry tart tartar tasselled taste tastiest tattle taut tautology tawnier
tawny tea teach teak team teammate tear teardrop teat technique teen teenage teenager teepee teethe
teetotal telegraph telephone telltale temperate tempest template tempo temporal temporary tenable
tenacious tenant tendency tendril tenor tension tensors tentative tenuous tenure tepee tepid
terminal termini termite terrace terracing terrain terrier terrific territory terrorism terrorist
terrorize terse terseness tersest testament testicle testis tetanus text textile than that thatch
thaw theater thee theist them thence theology theorem theoretic theory there thereupon thermal
thesaurus theta thick thieve thigh thin think thinnest thinning third thirst thirstier thirteen
thirty this thornier thorough those though thousand thrash thread threat three thriftier thrifty
thrive thriving throb throbbing throng throttle throve throw throwaway thrown thud thudding thug
thump thunder thus thwart thyme tiara tick ticklish tiding tie tile tiling till tilt timber
timeliest timid tinder tingle tingling tinkle tinnier tinniest tinny tinselled tint tiny tip tipping
tipsier tireless tissue titbit titillate titling toad tobacco toboggan today toddle toddler toe
toffy toilet token told tolerable tomahawk tomato tonal tone tonic tonight tonnage tonne tonsil
tooth toothache toothpick top topaz topping torment torpedo torrent torso tortilla tortoise tortuous
torturing toss total totalled totalling tote totem totting touchdown touchiest tough toughen tousle
tousling tow toward towel towelling trace tracing tractor trader trading tragedy trait trampling
trance tranquil transact transfer transform transit transmit transpire transpose trapezoid trash
trashier trashiest trauma travel travelled tray treacle treadmill treason treasurer treasury treat
treatment treaty trek trellis tremble trembling trench trespass trestle trial tribal tribe tribunal
tributary tribute trick trickiest trickling trickster tricycle trifle trifling trillion trimmed
trinket trip triplet tripod tripos tripped tritest trivia trod trolly trombone troop trophy trotted
trotting trough trounce trouping trouser trout truancy truant truce truck trudge truffle truing
truly trump trunk trustee trustiest trusty truth try tub tuba tuft tugging tuition tulip tumble
tummy tumor tumult tuna tundra tuneful tuner tuning turban turbulent turgid turkey turn turnip
turnover turntable twang tweet twelfth twenty twig twigged twigging twilight twine twinge twinging
twinkle twinkling twinned twinning twirl tycoon tying typhoid typhoon typical typist tyrannize
tyrant tzar ugh ugliest ugliness ulterior ultimata ultimate ultimatum ultra umbrella umpire umpiring
umpteen unable unaltered unanimity unarmed unaware unbiased unbroken uncannier unceasing uncertain
unchanged unclean unclear uncouth uncover undamaged undaunted under underflow undergone underlain
underlie underrate undertow underwear undo undue unduly unearth uneasier uneasiest uneasily uneasy
uneven unfailing unfair unfeeling unfit unfold unfurl unhappier unhappy unheard unhelpful unify
union uniquest unison unit universal universe unjust unkind unlabeled unlawful unleash unlimited
unload unlock unlucky unmarked unmask unnerving unnoticed unpick unpopular unproven unravel unread
unrivaled unrulier unruly unsafe unsafer unseat unsettle unsigned unskilled unsound unsung unsure
untidier untidiest untie until untold untouched untrue untruer untying unused unwary unwelcome
unwell unwind unwound unwrapped update updating upend upgrading upheld uphill uphold upholster
upkeep uplift upload upon upper uppermost uproot ups upset upstairs upstream uptake uptight upward
urbane urging urine urn usable usage useable useless user using usual usurp utilize utilizing
utterance vacant vacating vacation vaccine vacillate vacua vagabond vagary vagina vagrant vague
vaguer vaguest vain validate validity valor valuable value valueless valve valving van vandal
vandalize vane vanguard vanilla vanish vanning variable variant variation variety varsity vastness
vatted vatting veer vegetable velour venerable vengeance vengeful venison venom venomous venture
venturing venue verandah verbiage verbosity verdict verge verging veriest veritable vermin versatile
verse version vertebra vertices verve very vest vestibule vestment veteran vetting vex vexation
vibrant vibration vicious victimize victor victory video videotape vie view viewpoint vigil
vigilante vigorous viler vilest vilify villa villager vindicate vine vintage violating violation
violence violent violet violin viper viral virtuosi virulent visible visionary vista vital vitality
vitriolic vivacious vogue voice void volcanic volition volley voluntary volunteer voodoo voracious
vortex vote voter voting voyager voyaging vulgar vying wadding waddle waffling waft wag wage wagon
wait waive waken walkout wallet wallop wallow walrus wan wane wanna wannest wanton war warble
warbling wardrobe warehouse warhead warmth warn warpath warranty warred warring warrior wartime wary
wash washable washroom wasp wastage waste wasteful wasteland wasting watch watchdog watchful
watchmen watchword watershed waterway watt wave waveform waver waviest wavy waxiest waylaid wayside
wayward weaken weakness wealth wearier weasel weaver weaving wedding wedge wedging wedlock wee
weedier weep weer weigh weightier weighty weirdness weirdo welcome welfare well welt wept were
werewolf westerly western wetted whack whaler whaling wharf wheat wheedle wheedling wheel wheeze
wheezing whence whenever whereas wherein whether whetted which whichever whiff while whilst whim
whip whipping whirl whirr whisper whistling white whiteness whitest whitewash whiz whizz who whoa
whoever whole wholesale wholly whom whore wicket widen wider widest widow width wield wife wig
wiggle wigwam wildcat wildfire wildness will willful willpower wily winch wincing windfall windier
windmill windpipe wine winning winsomer winter wintrier wintriest wintry wirier wiriest wisdom wise
wisecrack wiser wishful wisp wispier wispy wistful withdraw withheld withhold within without witless
witness wittier witting witty wizard wizened wizzes wobble wobbly woe wok woke woken woman womanhood
womb women wonderful wondrous woodchuck woodiest woodland woodsman woodsmen woolie woolier wooliest
woollier wordiest wore workable workforce workload workman workmen workplace workshop world wormhole
worrisome worse worst worthiest worthless wound wove woven wow wrangle wrangler wrangling wrapped
wrapper wrapping wrapt wrath wreath wreck wreckage wrench wrest wrestler wrestling wretch wrier
wriggle wriggling wright wrinkling writable writhing wrote xci xcii xciv xcix xiii xiv xix xvi xvii
xxi xxii xxiv xxix xxvii xxviii xxx xxxi xxxii xxxiii xxxiv xxxix xxxviii xylophone yack yakking yap
yapped yapping yard yardstick yawn yearn yeast yell yellow yelp yen yessing yeti yew yock yodel
yodelled yoghourt yoghurt yoke yokel yolk you youngster your youth youthful zanier zany zebra zenith
zest zeta zigzag zillion zincked zincking zip zipped zipping zodiac zombi zombie zone zucchini
""".split()
)
