/**
 * Durations as flatbake prints them: under 10 s with one decimal (`0.4s`, `7.2s`), then whole
 * seconds (`42s`), minutes (`3m07s`) and hours (`2h05m`). `seconds` is the value the text shows,
 * so a rate printed beside it can be computed from exactly that.
 */
export function formatDuration(seconds: number): { text: string; seconds: number } {
  const s = Math.max(0, seconds);
  if (Number(s.toFixed(1)) < 10) {
    const shown = Number(s.toFixed(1));
    return { text: `${shown.toFixed(1)}s`, seconds: shown };
  }
  const whole = Math.round(s);
  if (whole < 60) return { text: `${whole}s`, seconds: whole };
  if (whole < 3600) return { text: `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, '0')}s`, seconds: whole };
  const minutes = Math.round(whole / 60);
  return { text: `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`, seconds: minutes * 60 };
}
