"""Incremental learning one closed slice at a time, with or without a message bus.

The slice step (step.py) and what it needs: its typed state (state.py), the
rehearsal memory, scoring, adapter jobs and the trainer interface, and the
store rows it produces (rows.py). ``raie experiment`` runs the step over the
protocol's blocks; the stream's slice session (session.py) runs it each time
a slice closes, from windows made per user (user_state.py) and slice clocks.
Nothing here imports Kafka, Faust or Ray.
"""
