"""The campaigns service: creators' drops (create, edit, publish, cancel; the outcome decided
on orders' closing tally), with the core's roles at the top level (``routes``, ``schemas``,
``commands``, ``handlers``, ``domain``, ``models``) and the public activity feed, live stream
and counters in the ``activity`` sub-package; ``bootstrap`` lists everything that runs."""
