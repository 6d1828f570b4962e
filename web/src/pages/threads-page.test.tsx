// @vitest-environment happy-dom
import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { MemoryRouter, Route, Routes, useLocation } from 'react-router';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ApiError } from '../api/http.ts';
import { Notices } from '../components/notices.tsx';
import { NowProvider } from '../components/use-now.tsx';
import { createAppStores, StoresProvider } from '../stores/app-stores.tsx';
import { fakeApi, makeThread, makeThreads } from '../testing/fixtures.ts';
import { ThreadPage } from './thread-page.tsx';
import { ThreadsPage } from './threads-page.tsx';

const NOW = Date.parse('2026-12-01T12:00:00Z');

// happy-dom does no layout; give the list's scroll area a size so the virtualizer renders rows.
const sizes = { clientHeight: 800, clientWidth: 1200 };
const saved = new Map<string, PropertyDescriptor | undefined>();
beforeAll(() => {
  for (const [name, value] of Object.entries(sizes)) {
    saved.set(name, Object.getOwnPropertyDescriptor(HTMLElement.prototype, name));
    Object.defineProperty(HTMLElement.prototype, name, { configurable: true, get: () => value });
  }
});
afterAll(() => {
  for (const [name, descriptor] of saved) {
    if (descriptor) Object.defineProperty(HTMLElement.prototype, name, descriptor);
  }
});
afterEach(cleanup);

function LocationProbe({ into }: { into: { current: string } }) {
  const here = useLocation();
  into.current = `${here.pathname}${here.search}`;
  return null;
}

function renderApp(api: ReturnType<typeof fakeApi>, route = '/threads') {
  const stores = createAppStores({ api });
  const location = { current: '' };
  render(
    <StoresProvider stores={stores}>
      <NowProvider now={NOW}>
        <MemoryRouter initialEntries={[route]}>
          <Routes>
            <Route path="/threads" element={<ThreadsPage />} />
            <Route path="/threads/:threadId" element={<ThreadPage />} />
          </Routes>
          <LocationProbe into={location} />
          <Notices />
        </MemoryRouter>
      </NowProvider>
    </StoresProvider>,
  );
  return { stores, location };
}

const dataRows = () => screen.getAllByRole('row').filter((row) => row.hasAttribute('data-thread-id'));

describe('ThreadsPage', () => {
  it('renders a row per thread with its columns', async () => {
    const api = fakeApi();
    const threads = [
      makeThread({
        subject: 'Application: Staff Engineer at Acme',
        participants: ['ana@acme.example', 'hr@acme.example'],
        responseTimeHours: 5,
        lastActivity: '2026-12-01T09:00:00.000000Z',
      }),
      makeThread({
        subject: 'Quick question',
        emailType: 'manual',
        lastActivity: '2026-11-30T12:00:00.000000Z',
      }),
    ];
    api.threads.list.mockResolvedValue({ items: threads, nextCursor: null });
    renderApp(api);

    await waitFor(() => expect(dataRows()).toHaveLength(2));
    const [first, second] = dataRows();
    expect(within(first!).getByRole('link', { name: 'Application: Staff Engineer at Acme' })).toBeTruthy();
    expect(first!.textContent).toContain('ana@acme.example +1');
    expect(first!.textContent).toContain('Replied after 5 h');
    expect(first!.textContent).toContain('3 hours ago');
    expect(first!.textContent).toContain('Active');
    expect(second!.textContent).toContain('Manual');
    expect(second!.textContent).toContain('Awaiting reply');
    expect(screen.getByText('2 threads')).toBeTruthy();
    expect(api.threads.list).toHaveBeenCalledWith(
      { status: 'active', hidden: false, sort: 'lastActivity', order: 'desc', limit: 100 },
      expect.anything(),
    );
  });

  it('changes the URL and the query when a filter changes', async () => {
    const api = fakeApi();
    api.threads.list.mockResolvedValue({ items: makeThreads(2), nextCursor: null });
    const { location } = renderApp(api);
    await waitFor(() => expect(dataRows()).toHaveLength(2));

    api.threads.list.mockResolvedValue({ items: makeThreads(1, { emailType: 'manual' }), nextCursor: null });
    fireEvent.change(screen.getByLabelText('Type'), { target: { value: 'manual' } });
    await waitFor(() => expect(location.current).toBe('/threads?type=manual'));
    await waitFor(() =>
      expect(api.threads.list).toHaveBeenLastCalledWith(
        expect.objectContaining({ emailType: 'manual', status: 'active' }),
        expect.anything(),
      ),
    );
    await waitFor(() => expect(dataRows()).toHaveLength(1));

    fireEvent.change(screen.getByLabelText('Status'), { target: { value: 'any' } });
    await waitFor(() => expect(location.current).toBe('/threads?status=any&type=manual'));
    const query = api.threads.list.mock.calls.at(-1)![0] as Record<string, unknown>;
    expect(query).not.toHaveProperty('status');
  });

  it('searches after the user stops typing', async () => {
    const api = fakeApi();
    api.threads.list.mockResolvedValue({ items: makeThreads(2), nextCursor: null });
    const { location } = renderApp(api);
    await waitFor(() => expect(dataRows()).toHaveLength(2));
    fireEvent.change(screen.getByRole('searchbox', { name: 'Search threads' }), {
      target: { value: 'acme' },
    });
    await waitFor(() => expect(location.current).toBe('/threads?q=acme'));
    expect(api.threads.list).toHaveBeenLastCalledWith(
      expect.objectContaining({ q: 'acme' }),
      expect.anything(),
    );
  });

  it('jumps to the search with "/"', async () => {
    renderApp(fakeApi());
    await screen.findByText('No threads yet');
    fireEvent.keyDown(document.body, { key: '/' });
    expect(document.activeElement).toBe(screen.getByRole('searchbox', { name: 'Search threads' }));
  });

  it('reads its filters from the URL it is opened with', async () => {
    const api = fakeApi();
    renderApp(api, '/threads?hidden=only&sort=createdAt&order=asc');
    await waitFor(() =>
      expect(api.threads.list).toHaveBeenCalledWith(
        { status: 'active', hidden: true, sort: 'createdAt', order: 'asc', limit: 100 },
        expect.anything(),
      ),
    );
    expect((screen.getByLabelText('Hidden') as HTMLSelectElement).value).toBe('only');
    expect(await screen.findByText('No threads match these filters')).toBeTruthy();
  });

  it('shows an error with the server’s reason, and retries', async () => {
    const api = fakeApi();
    api.threads.list.mockRejectedValueOnce(
      new ApiError({ status: 503, code: 'DB_UNAVAILABLE', message: 'The database is unavailable' }),
    );
    renderApp(api);
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('Threads could not be loaded');
    expect(alert.textContent).toContain('The database is unavailable');
    api.threads.list.mockResolvedValueOnce({ items: makeThreads(3), nextCursor: null });
    fireEvent.click(within(alert).getByRole('button', { name: 'Try again' }));
    await waitFor(() => expect(dataRows()).toHaveLength(3));
  });

  it('invites to connect an account when there is nothing yet', async () => {
    renderApp(fakeApi());
    expect(await screen.findByText('No threads yet')).toBeTruthy();
    expect(screen.getByRole('link', { name: 'Connect a mail account' }).getAttribute('href')).toBe(
      '/accounts',
    );
  });

  it('bulk-hides the selected rows', async () => {
    const api = fakeApi();
    const threads = makeThreads(3);
    api.threads.list.mockResolvedValue({ items: threads, nextCursor: null });
    api.threads.bulk.mockImplementation((_action: string, ids: string[]) =>
      Promise.resolve({
        updated: threads.filter((t) => ids.includes(t.threadId)).map((t) => ({ ...t, hidden: true })),
        notFound: [],
      }),
    );
    renderApp(api);
    await waitFor(() => expect(dataRows()).toHaveLength(3));
    fireEvent.click(within(dataRows()[0]!).getByRole('checkbox'));
    fireEvent.click(within(dataRows()[1]!).getByRole('checkbox'));
    const toolbar = screen.getByRole('toolbar', { name: 'Selected threads' });
    expect(toolbar.textContent).toContain('2 selected');
    fireEvent.click(within(toolbar).getByRole('button', { name: 'Hide' }));
    await waitFor(() => expect(dataRows()).toHaveLength(1));
    expect(api.threads.bulk).toHaveBeenCalledWith('hide', [threads[0]!.threadId, threads[1]!.threadId], {
      idempotencyKey: expect.any(String),
    });
    expect(await screen.findByText('Hidden 2 threads')).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Undo' })).toBeTruthy();
  });
});

describe('ThreadPage', () => {
  it('shows the thread, and a visible error with rollback when hiding is refused', async () => {
    const api = fakeApi();
    const thread = makeThread({ subject: 'Application: Designer at Globex' });
    api.threads.get.mockResolvedValue(thread);
    api.threads.events.mockResolvedValue({
      items: [
        {
          id: '1',
          userId: 'me',
          threadId: thread.threadId,
          type: 'created',
          data: {},
          createdAt: thread.createdAt,
        },
      ],
    });
    api.threads.hide.mockRejectedValueOnce(
      new ApiError({ status: 500, code: 'INTERNAL', message: 'Something broke on our side' }),
    );
    renderApp(api, `/threads/${thread.threadId}`);

    expect((await screen.findByRole('heading', { level: 1 })).textContent).toBe(
      'Application: Designer at Globex',
    );
    const history = screen.getByRole('region', { name: 'History' });
    expect(await within(history).findByText('Started tracking')).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Hide' }));
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain(
      'Could not hide “Application: Designer at Globex”: Something broke on our side',
    );
    expect(screen.getByRole('button', { name: 'Hide' })).toBeTruthy();
    expect(screen.queryByRole('button', { name: 'Unhide' })).toBeNull();
  });

  it('says when a thread does not exist', async () => {
    const api = fakeApi();
    api.threads.get.mockRejectedValue(
      new ApiError({ status: 404, code: 'THREAD_NOT_FOUND', message: 'No thread' }),
    );
    renderApp(api, '/threads/nope');
    expect(await screen.findByText('This thread does not exist')).toBeTruthy();
  });
});
