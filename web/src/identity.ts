/** Who this browser is: a display name and colour, kept in localStorage, shown to everyone else. */
const PALETTE = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6', '#469990', '#9a6324', '#800000', '#808000', '#000075'];

export interface Identity { name: string; color: string }

export function identity(): Identity {
  let name = read('icpy.name');
  if (!name) {
    name = `guest-${Math.random().toString(36).slice(2, 6)}`;
    write('icpy.name', name);
  }
  let color = read('icpy.color');
  if (!color || !/^#[0-9a-f]{6}$/i.test(color)) {
    color = PALETTE[Math.floor(Math.random() * PALETTE.length)]!;
    write('icpy.color', color);
  }
  return { name: name.slice(0, 64), color };
}

function read(k: string): string | null {
  try { return localStorage.getItem(k); } catch { return null; }
}
function write(k: string, v: string): void {
  try { localStorage.setItem(k, v); } catch { /* private mode: a new name per load */ }
}
