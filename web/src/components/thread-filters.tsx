// Filter bar of the thread list. It only edits the URL; the list follows the URL.
import { useEffect, useId, useRef, useState } from 'react';
import type { Lead } from '../api/types.ts';
import { DEFAULT_FILTERS, isDefaultFilters, type ThreadFilters } from '../lib/filters.ts';
import { EMAIL_TYPE_LABELS, STATUS_LABELS } from '../lib/format.ts';
import { leadName } from '../stores/leads-store.ts';
import { SearchIcon, XIcon } from './icons.tsx';

export interface ThreadFiltersProps {
  filters: ThreadFilters;
  leads: Lead[];
  onChange: (patch: Partial<ThreadFilters>, options?: { replace?: boolean }) => void;
}

const SEARCH_DEBOUNCE_MS = 250;

function SelectField<T extends string>({
  label,
  value,
  options,
  onChange,
  className,
}: {
  label: string;
  value: T;
  options: readonly (readonly [T, string])[];
  onChange: (value: T) => void;
  className?: string;
}) {
  const id = useId();
  return (
    <div className={`field field--inline${className ? ` ${className}` : ''}`}>
      <label htmlFor={id} className="field__label">
        {label}
      </label>
      <select id={id} className="select" value={value} onChange={(e) => onChange(e.target.value as T)}>
        {options.map(([v, text]) => (
          <option key={v} value={v}>
            {text}
          </option>
        ))}
      </select>
    </div>
  );
}

export function SearchBox({
  value,
  onSearch,
}: {
  value: string;
  onSearch: (q: string, replace: boolean) => void;
}) {
  const [text, setText] = useState(value);
  const committed = useRef(value);
  const input = useRef<HTMLInputElement>(null);
  const id = useId();
  useEffect(() => {
    // "/" jumps to the search from anywhere on the page, unless the user is typing somewhere else.
    const onKey = (e: KeyboardEvent) => {
      const target = e.target as HTMLElement | null;
      const typing = target?.closest('input, textarea, select, [contenteditable="true"]');
      if (e.key !== '/' || typing || e.ctrlKey || e.metaKey || e.altKey) return;
      e.preventDefault();
      input.current?.focus();
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, []);
  useEffect(() => {
    // The URL changed underneath (back button, "clear filters"): show what it says.
    if (value !== committed.current) {
      committed.current = value;
      setText(value);
    }
  }, [value]);
  useEffect(() => {
    if (text.trim() === committed.current.trim()) return;
    const timer = setTimeout(() => {
      // The first keystroke of a search is a history entry; refining it is not.
      const replace = committed.current.trim() !== '';
      committed.current = text.trim();
      onSearch(text.trim(), replace);
    }, SEARCH_DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [text, onSearch]);
  return (
    <div className="search">
      <label htmlFor={id} className="visually-hidden">
        Search threads
      </label>
      <SearchIcon className="search__icon" />
      <input
        ref={input}
        id={id}
        type="search"
        aria-keyshortcuts="/"
        className="input search__input"
        placeholder="Search subject or participants"
        value={text}
        maxLength={200}
        autoComplete="off"
        spellCheck={false}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === 'Escape' && text) {
            e.preventDefault();
            setText('');
          }
        }}
      />
      {text ? (
        <button type="button" className="search__clear" aria-label="Clear search" onClick={() => setText('')}>
          <XIcon size={14} />
        </button>
      ) : null}
    </div>
  );
}

export function ThreadFiltersBar({ filters, leads, onChange }: ThreadFiltersProps) {
  const leadOptions: [string, string][] = [
    ['', 'Any lead'],
    ...leads
      .map((lead) => [lead.id, leadName(lead)] as [string, string])
      .sort((a, b) => a[1].localeCompare(b[1])),
  ];
  if (filters.leadId && !leads.some((l) => l.id === filters.leadId)) {
    leadOptions.push([filters.leadId, 'Selected lead']);
  }
  const active = !isDefaultFilters({ ...filters, sort: DEFAULT_FILTERS.sort, order: DEFAULT_FILTERS.order });
  return (
    <fieldset className="filters">
      <legend className="visually-hidden">Filters</legend>
      <SelectField
        label="Status"
        value={filters.status}
        options={[
          ['active', STATUS_LABELS.active],
          ['archived', STATUS_LABELS.archived],
          ['spam', STATUS_LABELS.spam],
          ['deleted', STATUS_LABELS.deleted],
          ['any', 'All but deleted'],
        ]}
        onChange={(status) => onChange({ status })}
      />
      <SelectField
        label="Type"
        value={filters.emailType}
        options={[
          ['any', 'Any type'],
          ['application', EMAIL_TYPE_LABELS.application],
          ['followup', EMAIL_TYPE_LABELS.followup],
          ['manual', EMAIL_TYPE_LABELS.manual],
          ['auto_followup', EMAIL_TYPE_LABELS.auto_followup],
        ]}
        onChange={(emailType) => onChange({ emailType })}
      />
      <SelectField
        label="Hidden"
        value={filters.hidden}
        options={[
          ['exclude', 'Not hidden'],
          ['only', 'Hidden only'],
          ['any', 'Hidden or not'],
        ]}
        onChange={(hidden) => onChange({ hidden })}
      />
      <SelectField
        label="Sent by"
        value={filters.systemGenerated}
        options={[
          ['any', 'Anyone'],
          ['only', 'The system'],
          ['exclude', 'Me'],
        ]}
        onChange={(systemGenerated) => onChange({ systemGenerated })}
      />
      <SelectField
        label="Lead"
        value={filters.leadId ?? ''}
        options={leadOptions}
        onChange={(leadId) => onChange({ leadId: leadId || null })}
      />
      {active ? (
        <button
          type="button"
          className="button button--ghost button--small"
          onClick={() => onChange({ ...DEFAULT_FILTERS, sort: filters.sort, order: filters.order })}
        >
          Clear filters
        </button>
      ) : null}
    </fieldset>
  );
}

export function SortSelect({ filters, onChange }: Pick<ThreadFiltersProps, 'filters' | 'onChange'>) {
  return (
    <SelectField
      className="sort-select"
      label="Sort"
      value={`${filters.sort}:${filters.order}`}
      options={[
        ['lastActivity:desc', 'Latest activity'],
        ['lastActivity:asc', 'Oldest activity'],
        ['createdAt:desc', 'Newest first'],
        ['createdAt:asc', 'Oldest first'],
      ]}
      onChange={(value) => {
        const [sort, order] = value.split(':') as [ThreadFilters['sort'], ThreadFilters['order']];
        onChange({ sort, order });
      }}
    />
  );
}
