"""The two-stage (caution, warning) FCW state machine.

Decisions use a pessimistic TTC, ``ttc_s - sigma_k * ttc_sigma_s``, so an uncertain estimate
warns earlier, but a reading whose sigma exceeds ``max_sigma_frac * ttc_s`` is too unsure to
raise anything (a new track whose scale rate has not settled yet). The explicit state:

- raising a level needs ``debounce_frames`` consecutive sure readings at or below its threshold
  (a one-frame dip never raises); the count restarts when the lead changes;
- lowering needs ``debounce_frames`` consecutive readings above threshold + ``clear_margin_s``
  (hysteresis: no flicker around a threshold), or with the lead gone or not closing, and only
  once the level has been held ``min_hold_s``;
- after a warning ends, another warning waits ``cooldown_s`` (caution may still be shown).
"""
from __future__ import annotations

from fcw.config import WarningConfig
from fcw.types import Event, WarningLevel


class WarningStateMachine:
    def __init__(self, cfg: WarningConfig) -> None:
        self.cfg = cfg
        self.level = WarningLevel.NONE
        self._level_since_t_s = 0.0
        self._warning_ended_t_s: float | None = None
        self._lead_id: int | None = None
        self._frames_at_caution = 0
        self._frames_at_warning = 0
        self._frames_to_lower = 0

    def _threshold_s(self, level: WarningLevel) -> float:
        return self.cfg.warning_ttc_s if level == WarningLevel.WARNING else self.cfg.caution_ttc_s

    def _floor(self, decision_ttc_s: float | None) -> WarningLevel:
        """The lowest level this reading allows: a level stays until TTC clears it by the margin."""
        if decision_ttc_s is None:
            return WarningLevel.NONE
        margin = self.cfg.clear_margin_s
        for level in (WarningLevel.WARNING, WarningLevel.CAUTION):
            if decision_ttc_s <= self._threshold_s(level) + margin:
                return level
        return WarningLevel.NONE

    def _cooldown_over(self, t_s: float) -> bool:
        ended = self._warning_ended_t_s
        return ended is None or t_s - ended >= self.cfg.cooldown_s

    def update(self, t_s: float, frame: int, lead_id: int | None, ttc_s: float | None,
               ttc_sigma_s: float | None, closing: bool) -> tuple[WarningLevel, list[Event]]:
        cfg = self.cfg
        if lead_id != self._lead_id:
            self._lead_id = lead_id
            self._frames_at_caution = self._frames_at_warning = 0

        # the TTC of a lead that can raise a level: closing, with a positive TTC
        live_ttc_s = (ttc_s if lead_id is not None and closing and ttc_s is not None
                      and ttc_s > 0.0 else None)
        sigma_s = ttc_sigma_s if ttc_sigma_s is not None else 0.0
        decision_ttc_s = live_ttc_s - cfg.sigma_k * sigma_s if live_ttc_s is not None else None
        sure = (live_ttc_s is not None and ttc_sigma_s is not None
                and ttc_sigma_s <= cfg.max_sigma_frac * live_ttc_s)

        def count(n: int, threshold_s: float) -> int:
            below = sure and decision_ttc_s is not None and decision_ttc_s <= threshold_s
            return n + 1 if below else 0

        self._frames_at_caution = count(self._frames_at_caution, cfg.caution_ttc_s)
        self._frames_at_warning = count(self._frames_at_warning, cfg.warning_ttc_s)
        raise_to = WarningLevel.NONE
        if self._frames_at_warning >= cfg.debounce_frames and self._cooldown_over(t_s):
            raise_to = WarningLevel.WARNING
        elif self._frames_at_caution >= cfg.debounce_frames:
            raise_to = WarningLevel.CAUTION

        floor = self._floor(decision_ttc_s)
        self._frames_to_lower = self._frames_to_lower + 1 if floor < self.level else 0

        new_level = self.level
        if raise_to > self.level:
            new_level = raise_to
        elif (self._frames_to_lower >= cfg.debounce_frames
              and t_s - self._level_since_t_s >= cfg.min_hold_s):
            new_level = max(floor, raise_to)
        if new_level == self.level:
            return self.level, []

        if self.level == WarningLevel.WARNING:
            self._warning_ended_t_s = t_s
        self.level = new_level
        self._level_since_t_s = t_s
        self._frames_to_lower = 0
        event = Event("fcw", t_s, frame, {"level": new_level.label, "track_id": lead_id,
                                          "ttc_s": ttc_s, "ttc_sigma_s": ttc_sigma_s})
        return self.level, [event]
