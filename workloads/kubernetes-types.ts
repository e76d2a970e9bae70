// History values of the kubernetes workload. Objects are stored as JSON
// {"uid": n, "basedOn": rv}: uid is unique per write, basedOn the
// resourceVersion (mod revision) the writer read before updating (0 for a
// create), so any observation of a version tells which version it replaced.

export interface KubeItem {
  key: string;
  modRevision: number;
  uid: number;
  basedOn: number;
}

export interface KubeWrite {
  key: string;
  /** create/update: the uid written. */
  uid?: number;
  /** Completion: the resourceVersion the successful attempt was based on (delete: the version deleted). */
  basedOn?: number;
  /** Completion: the new mod revision (delete: the revision of the delete). */
  modRevision?: number;
  attempts?: number;
}

export interface KubeGet {
  key: string;
  item?: KubeItem | null;
}

export interface KubeList {
  revision?: number;
  items?: KubeItem[];
  pages?: number;
}

export interface KubeWatchEvent {
  type: 'put' | 'delete';
  key: string;
  rev: number;
  uid?: number;
}

export interface KubeListWatch {
  durationMs: number;
  final?: boolean;
  /** The list: revision and items. */
  revision?: number;
  items?: KubeItem[];
  /** Events from the watch started at revision + 1. */
  events?: KubeWatchEvent[];
  /** The last revision the watch reached (event or progress notification). */
  watchedTo?: number;
  /** A second list at watchedTo, to compare against list + events. */
  checkItems?: KubeItem[];
  watchError?: string;
}

export type KubeValue = KubeWrite | KubeGet | KubeList | KubeListWatch;
