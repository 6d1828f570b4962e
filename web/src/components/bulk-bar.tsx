import type { BulkAction } from '../api/types.ts';
import { formatCount } from '../lib/format.ts';
import { useStores } from '../stores/app-stores.tsx';

const ACTIONS: [BulkAction, string][] = [
  ['hide', 'Hide'],
  ['unhide', 'Unhide'],
  ['archive', 'Archive'],
  ['unarchive', 'Unarchive'],
];

export function BulkBar({ selectedIds }: { selectedIds: string[] }) {
  const { threads } = useStores();
  if (selectedIds.length === 0) return null;
  return (
    <div className="bulk-bar" role="toolbar" aria-label="Selected threads">
      <span className="bulk-bar__count" aria-live="polite">
        {formatCount(selectedIds.length)} selected
      </span>
      <div className="bulk-bar__actions">
        {ACTIONS.map(([action, label]) => (
          <button
            key={action}
            type="button"
            className="button button--small"
            onClick={() => void threads.getState().bulk(action, selectedIds)}
          >
            {label}
          </button>
        ))}
        <button
          type="button"
          className="button button--ghost button--small"
          onClick={() => threads.getState().clearSelection()}
        >
          Clear
        </button>
      </div>
    </div>
  );
}
