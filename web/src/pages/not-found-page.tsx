import { Link } from 'react-router';
import { EmptyState } from '../components/states.tsx';
import { useDocumentTitle } from '../components/use-document-title.ts';

export function NotFoundPage() {
  useDocumentTitle('Not found');
  return (
    <div className="page">
      <EmptyState
        title="There is nothing here"
        action={
          <Link className="button" to="/threads">
            Go to threads
          </Link>
        }
      >
        The address may be mistyped, or the page moved.
      </EmptyState>
    </div>
  );
}
