"""The sound generator behind the synthetic dataset (``asclab.synthetic``) and the event corpus.

How a clip of the synthetic TAU22 stand-in is made (``datasheet.md`` tells the same story for students):

1. **Scene.** A 10-s scene is a mix of procedural sources (ambience, hums, babble, footsteps, pass-bys,
   birds, engines, rail clatter, squeal, chimes, ...). The sources are shared inside a coarse group
   (indoor, outdoor, transportation); the classes of a group differ only in how much of each source they
   hold and in a few parameters (``scenes.source_mix_table()``). Noise-like sources are drawn as a
   time-frequency power map and turned into sound once (random phase, overlap-add); tonal sources are
   oscillators added in the time domain.
2. **Location.** Every segment is recorded at a location (``<city>-<id>``). The location fixes a colouring
   EQ, a reverb, a level, the gain of every source and a few source parameters (hum pitch, floor type, bird
   species, ...), so clips of one location resemble each other more than clips of another location of the
   same class. Test locations never occur in training.
3. **Device.** The scene is "recorded" by one of nine device models (``devices.DEVICE_MODELS``): a frequency
   response, a noise floor, compression and, for some, clipping. Training is dominated by device a (as in
   TAU22); s4-s6 are only in the test split, and every test segment is recorded by all nine devices.
4. **Cutting.** The 10-s recording is cut into ten 1-s clips, and all ten stay in the same split.

Everything is seeded from ``(seed, class, train/test, index)``, so segments can be generated in any order
and in parallel, and the same seed always gives byte-identical files.

The modules, in layers (a module imports only from the layers below it):

=========  ==========================================================================================
layer      module: what it holds
=========  ==========================================================================================
4          ``dataset``: the plan (segments, locations, devices, splits), writing the files, the cache
           marker, the datasheet; ``events``: the multi-label event corpus for pre-training
3          ``scenes``: what each class holds (sources, weights, parameters), locations and cities,
           rooms, and ``render_scene``
2          ``sources``: the 22 procedural sound sources; ``devices``: the nine recording channels
1          ``blocks``: sample rate, segment length, the time-frequency canvas and its grid, spectral
           shapes, envelopes, oscillators, seeded random streams
=========  ==========================================================================================
"""
