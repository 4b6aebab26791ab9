/**
 * The video tiles of a call: this user's own camera preview and one tile per video the gateway
 * forwards. The gateway names each forwarded stream after the leg it comes from, which is how a
 * tile gets its member's name.
 */
import { h } from './callDom.js';

interface Tile {
  figure: HTMLElement;
  caption: HTMLElement;
  legId: string | undefined;
}

export class VideoTiles {
  private readonly tiles = new Map<string, Tile>();

  constructor(
    private readonly container: HTMLElement,
    private readonly nameOfLeg: (legId: string) => string | undefined,
  ) {}

  /** Shows this user's own camera (muted, mirrored like a mirror). */
  showLocal(stream: MediaStream): void {
    const tracks = stream.getVideoTracks();
    if (tracks.length === 0) return;
    this.addTile('local', new MediaStream(tracks), undefined, 'You');
  }

  /** Shows a forwarded video until the gateway stops forwarding it. */
  showRemote(track: MediaStreamTrack, streams: readonly MediaStream[]): void {
    if (track.kind !== 'video' || this.tiles.has(track.id)) return;
    const source = streams[0];
    const tile = this.addTile(track.id, new MediaStream([track]), source?.id, undefined);
    const remove = (): void => this.remove(track.id);
    track.addEventListener('ended', remove);
    source?.addEventListener('removetrack', (e) => {
      if (e.track === track) remove();
    });
    // A track stays muted until its first frames arrive, and again while the sender is video-muted.
    const waiting = (): void => {
      tile.figure.classList.toggle('waiting', track.muted);
    };
    track.addEventListener('mute', waiting);
    track.addEventListener('unmute', waiting);
    waiting();
  }

  /** Dims this user's own preview while the others do not get it (video muted). */
  setLocalMuted(muted: boolean): void {
    this.tiles.get('local')?.figure.classList.toggle('waiting', muted);
  }

  /** Names the tiles again (a member's name may become known after their video). */
  refreshCaptions(): void {
    for (const tile of this.tiles.values()) {
      if (tile.legId !== undefined) tile.caption.textContent = this.nameOfLeg(tile.legId) ?? 'Video';
    }
  }

  /** Removes every tile (the call ended). */
  clear(): void {
    for (const id of [...this.tiles.keys()]) this.remove(id);
  }

  private addTile(id: string, stream: MediaStream, legId: string | undefined, label: string | undefined): Tile {
    const video = h('video', { autoplay: true, playsinline: true, muted: true });
    // The attribute alone does not mute a video given a stream from script; the property does.
    video.muted = true;
    video.srcObject = stream;
    const caption = h('figcaption', {}, label ?? (legId === undefined ? 'Video' : (this.nameOfLeg(legId) ?? 'Video')));
    const figure = h('figure', { class: id === 'local' ? 'tile local' : 'tile', ...(legId !== undefined && { 'data-leg-id': legId }) }, video, caption);
    const tile: Tile = { figure, caption, legId };
    this.tiles.set(id, tile);
    this.container.append(figure);
    return tile;
  }

  private remove(id: string): void {
    const tile = this.tiles.get(id);
    if (!tile) return;
    this.tiles.delete(id);
    const video = tile.figure.querySelector('video');
    if (video) video.srcObject = null;
    tile.figure.remove();
  }
}
