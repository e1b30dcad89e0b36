"""The demo corpus's words: what its people and machines say, the voices that say it, and the
source and licence of every kind of recording (the recipe in :mod:`lsdlab.corpus.demo` draws
from these tables; changing a table changes the corpus the seed rebuilds)."""

from __future__ import annotations

# -- sources: (source column, licence column) ----------------------------------------------
_SRC_ESPEAK = ("espeak-ng (Debian espeak-ng), TTS rendered by lsdlab", "MIT")
_SRC_FLITE = ("flite (Debian flite, CMU Flite voices), TTS rendered by lsdlab", "MIT")
_SRC_ALLISON = ("asterisk-core-sounds-en-wav (Allison Smith)", "CC-BY-SA-3.0")
_SRC_FSDD = ("Jakobovski/free-spoken-digit-dataset via real-dev", "CC-BY-SA-4.0")
_SRC_CALLATT = ("roycewilliams/callattendant-resources via real-dev", "MIT")
_SRC_SPEECH = ("MycroftAI/Precise-Community-Data via real-dev (public-domain clips)", "public-domain")
_SRC_TONES = ("lsdlab.audio.tones (generated from ITU-T specifications)", "MIT")
_SRC_NOISE = ("lsdlab (generated line noise and clicks)", "MIT")

_ESPEAK_BASES = (
    "en", "en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan",
    "en-gb-x-gbcwmd", "en-029", "en-us-nyc",
)
# espeak-ng voice variants (voices/!v), spelled exactly as their files: an unknown or
# mis-cased name (e.g. "Linda" for "linda") silently falls back to the plain base voice.
# Novelty variants (whisper, croak, robosoft*, Demonic, ...) are left out.
_ESPEAK_VARIANTS = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5",
    "klatt", "klatt2", "klatt3", "klatt4", "Alicia", "Andy", "Annie", "Michael", "steph",
    "steph2", "steph3", "linda", "paul", "rob", "zac", "adam", "Alex", "Andrea", "aunty",
    "belinda", "benjamin", "boris", "caleb", "david", "Denis", "ed", "edward", "edward2",
    "Gene", "Gene2", "gustave", "Hugo", "iven", "iven2", "iven3", "Jacky", "john", "Lee",
    "marcelo", "Marco", "Mario", "max", "Mike", "michel", "miguel", "Nguyen", "norbert",
    "pablo", "pedro", "quincy", "robert", "sandro", "shelby", "travis", "victor", "grandma",
    "grandpa", "anika",
)
# flite voices and the range of their mean F0 (Hz) for ``int_f0_target_mean``; rms ignores it
_FLITE_VOICES = {"kal": (85.0, 135.0), "kal16": (85.0, 135.0), "awb": (85.0, 135.0),
                 "rms": None, "slt": (150.0, 225.0)}
_FSDD_SPEAKERS = ("george", "jackson", "lucas", "nicolas")
_FSDD_TAKES = 25
_COUNTRIES = ("US", "GB", "DE", "FR")

_NAMES = ("Tom", "Mary", "Sam", "Jo", "Dave", "Priya", "Alex", "Kim", "Liam", "Rosa", "Ben",
          "Nina", "Omar", "Kate", "Raj", "Ellen", "Mike", "Sue", "Chris", "Anna", "Sarah", "Gareth",
          "Fiona", "Jamal", "Wei", "Maria", "Pete", "Aisha", "Jack", "Helen")
_SURNAMES = ("Smith", "Jones", "Patel", "Garcia", "Brown", "Miller", "Nguyen", "Wilson", "Taylor", "Clark",
             "Evans", "Khan", "O'Brien", "Murphy", "Walker")
_BUSINESSES = ("Acme plumbing", "Riverside dental", "Bright Electric", "Oak Street bakery",
               "Northside auto repair", "Summit insurance", "Green Valley vets", "City locksmiths")

_SHORT_ANSWERS = (
    "Hello?", "Hello?", "Yes?", "Hi", "Hello", "Yeah?", "Hi there", "Hello, this is {n}",
    "{n} speaking", "Yes, hello?", "Hello, who is this?", "Hey", "Good morning", "Good morning!",
    "Speaking.", "Hello, {n} here", "Hello, {n} here.", "Hello, who's calling?", "Hiya", "Yep?",
    "Hello, yes?", "Morning!", "Afternoon!", "Yes, speaking", "Hey there", "{n}.", "It's {n}",
    "Hello, {n} speaking", "Hi, who's this?", "Hello there", "Good evening", "Yes, who is it?",
    "Hullo?", "Oh, hello", "Evening!", "Yup?", "Hello, go ahead", "Hi, {n} here", "Yes, hi",
)
_SECOND_ANSWERS = ("Hello?", "Hello?", "Hello?", "Hello? Anyone there?", "Hello, can you hear me?",
                   "Yes? Hello?", "Who's this?", "Hello? Is anyone there?", "Hello-o?")
_EVENTS = ("cough before", "noise after", "cough after", "noise before")
_ALLISON_SHORT = (("hello", "Hello"), ("hello", "Hello"), ("hello", "Hello"),
                  ("digits/oh", "Oh?"), ("one-moment-please", "One moment please"))
_LONG_GREETINGS = (
    "Hello, {s} residence, {n} speaking",
    "Good afternoon, {b}, this is {n}",
    "Good morning, {b}, {n} speaking",
    "Hello, you're through to {n}, how can I help?",
    "Hi, this is {n} {s}, who's calling please?",
    "{b}, good morning, {n} speaking",
    "Hello, {n} {s} speaking, can I help you?",
    "Good evening, the {s} household",
    "Good morning, {b}, how can I help?",
    "Hello, this is {n}, who am I speaking to?",
    "Hi, {n} here, sorry, who's calling?",
    "Good afternoon, the {s} residence",
    "Hello, {b}, {n} speaking",
    "Hello? Yes, this is {n} speaking",
    "Hiya, {n} here, what can I do for you?",
    "Hello, {n} {s}, how can I help you?",
)
_SHORT_MACHINE = (
    ("Hi, it's {n}.", "Leave a message."),
    ("{n} here.", "Leave a message."),
    ("It's {n}.", "Talk after the beep."),
    ("You've reached {n}.", "Leave a message."),
    ("Hi, {n}.", "Leave a message."),
    ("Hey, it's {n}.", "Go ahead."),
    ("{n}'s phone.", "Leave a message."),
    ("Not here.", "Leave a message."),
)
_PERSONAL_MACHINE = (
    ("Hi, you've reached {n}.", "I can't take your call right now.", "Leave a message after the tone."),
    ("Hello, this is {n}.", "I'm not available at the moment.", "Please leave your name and number and I'll call you back."),
    ("Hey, it's {n}.", "Sorry I missed you.", "Leave a message and I'll get back to you."),
    ("You have reached the {s} family.", "We can't come to the phone right now.", "Please leave a message after the beep."),
    ("Hi, this is {n} {s}.", "I'm away from my phone.", "Leave a message."),
    ("Hello, you've called {n}.", "Please leave a message after the tone."),
)
_BUSINESS_MACHINE = (
    ("Thank you for calling {b}.", "Our office is now closed.", "Please leave your name and number after the tone and we will call you back."),
    ("You have reached {b}.", "All of our staff are busy.", "Please leave a message."),
    ("Welcome to {b}.", "Our opening hours are nine to five, Monday to Friday.", "Leave a message after the tone."),
    ("Hello, you've reached {n} at {b}.", "I'm on another call.", "Please leave a message."),
)
_CARRIER_MACHINE = (
    ("The wireless customer you are calling is not available.", "Please leave a message after the tone."),
    ("The person you are trying to reach is not available.", "At the tone, please record your message.", "When you are finished, you may hang up."),
    ("Your call has been forwarded to an automated voice messaging system.", "{d} is not available.", "At the tone, please record your message."),
    ("The subscriber you have dialled is not available.", "Please leave a message after the tone."),
    ("Welcome to voicemail.", "The mailbox of {d} is not available.", "Please leave a message."),
)
_ALLISON_CARRIER = (
    ("vm-theperson", "EXT", "vm-isunavail", "vm-intro"),
    ("vm-theperson", "EXT", "vm-isonphone", "vm-intro"),
    ("vm-nobodyavail", "vm-intro"),
    ("vm-theperson", "EXT", "vm-isunavail"),
    ("vm-nobodyavail", "vm-leavemsg"),
)
_CALLATT_MACHINE = (
    ("screening-sorry-i-cant-take-your-call", "screening-please-leave-a-message-at-the-tone"),
    ("screening-wee-screen-all-calls-so-please-leave-a-message",),
    ("screening-this-is-a-recording", "screening-leave-a-message-at-the-tone"),
    ("screening-sorry-i-cant-take-your-call", "screening-please-leave-a-message"),
    ("screening-all-un-known-calls-to-this-number-are-screened", "screening-please-leave-a-message-at-the-tone"),
)
